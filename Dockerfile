# p2pweights node image; by default the always-on daemon (HTTP API and dashboard on 7171).
#
#   docker build -t p2pweights .
#   mkdir -p data && sudo chown 10001:10001 data && sudo chmod 0700 data   # the image's user owns its state
#   docker run -d --name p2pweights -v "$PWD/data:/data" -v /srv/models:/models:ro \
#     -p 4001:4001 -p 127.0.0.1:7171:7171 p2pweights
#   docker exec p2pweights p2pweights ls --data-dir /data
#
# Any other command works too: `docker run --rm -v "$PWD/data:/data" p2pweights fetch <cid>
# --data-dir /data -o /data/models/<name>`. docker-compose.yml runs it on a NAS.
#
# Two ways to get the compiled CLI and its production dependencies into the image, into the one
# runtime stage at the end (so what is tested is what ships):
#   APP_SOURCE=build (default)  compiled here, with `npm ci` inside the build (needs the registry)
#   APP_SOURCE=prebuilt         copied from ./prebuilt, made on the host; no network in the build:
#     npm ci && npm run build && rm -rf prebuilt && mkdir prebuilt \
#       && cp -r dist package.json package-lock.json prebuilt/ \
#       && (cd prebuilt && npm ci --omit=dev --ignore-scripts --no-audit --no-fund)
#     DOCKER_BUILDKIT=1 docker build --network none --build-arg APP_SOURCE=prebuilt -t p2pweights .
#   (BuildKit builds only the stages the target needs; the legacy builder would also run `npm ci`.)
ARG APP_SOURCE=build

# ---- build: compile TypeScript with the dev dependencies, then drop them ----------------------
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
# --ignore-scripts: the only install script in the tree is the dev `node` package's (a pinned
# Node 24 for hosts whose own Node is older), which this image does not need.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY src ./src
COPY scripts/copy-assets.mjs ./scripts/
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# ---- prebuilt: the same /app, made on the host (see above) ------------------------------------
FROM node:24-bookworm-slim AS prebuilt
WORKDIR /app
# The glob matches nothing when ./prebuilt is absent, so this stage never breaks a normal build.
COPY package.json prebuil[t]/ ./

FROM ${APP_SOURCE} AS app

# ---- runtime: Node 24, the compiled CLI, production dependencies, a non-root user -------------
FROM node:24-bookworm-slim
ENV NODE_ENV=production
RUN groupadd --system --gid 10001 p2pweights \
 && useradd --system --uid 10001 --gid p2pweights --home-dir /data --no-create-home --shell /usr/sbin/nologin p2pweights \
 && mkdir -p /data /models \
 && chown p2pweights:p2pweights /data \
 && chmod 0700 /data
WORKDIR /app
COPY --from=app /app/package.json ./
COPY --from=app /app/node_modules ./node_modules
COPY --from=app /app/dist ./dist
# Only the compose file's demo profile uses it.
COPY scripts/demo-entrypoint.mjs ./scripts/
# Fails the build, whichever source, if the CLI cannot load its dependencies.
RUN ln -s /app/dist/cli/main.js /usr/local/bin/p2pweights && node /app/dist/cli/main.js --version
USER p2pweights
# Identity, API token, hash cache, model list, fetched models (/data/models).
VOLUME ["/data"]
# 4001: the libp2p swarm (TCP). 7171: HTTP API and dashboard; like everywhere, it requires the
# token the daemon keeps in /data/api-token (Authorization: Bearer <token>).
EXPOSE 4001 7171
# No curl in the slim image: ask Node. /healthz needs no token.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:7171/healthz', { signal: AbortSignal.timeout(4000) }).then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["daemon", "--data-dir", "/data", "--listen", "/ip4/0.0.0.0/tcp/4001", "--api", "0.0.0.0:7171", "--allow-folder", "/models", "--allow-folder", "/data/models"]
