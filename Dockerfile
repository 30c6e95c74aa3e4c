# p2pweights node image. Build: docker build -t p2pweights .
FROM node:24-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY scripts ./scripts
# The pinned Node 24 devDependency is redundant in this image; skip it and the test tools.
RUN npm ci --no-audit --no-fund && npm prune --omit=dev
ENV XDG_DATA_HOME=/data
VOLUME ["/data"]
EXPOSE 4001
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
