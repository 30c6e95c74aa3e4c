#!/usr/bin/env bash
# The Docker deployment, run for real: builds the image and brings docker-compose.yml up on a
# private Docker engine, then checks what a NAS owner relies on.
#
#   1. the NAS service (`compose up -d`, set up as the compose file and README say): health
#      check healthy; runs as uid 10001; the API refuses a request without the token from the
#      data volume and answers with it; a model folder mounted read-only is seeded in place; a
#      peer on the host fetches it through the published swarm port; the data folder keeps the
#      owner and modes the README tells users to set;
#   2. `compose restart`, `docker kill` + `compose up -d`, and a crash (SIGKILL of the node
#      process, the restart policy brings it back): the same CID is served again, from the hash
#      cache (its entries on the data volume are not rewritten: nothing is hashed again);
#   3. the `demo` profile: bootstrap, seeder and fetcher; the fetcher's bytes equal ./demo/model.
#
# Runs as root only (it installs packages and starts dockerd). Installs Debian's docker.io,
# docker-compose, debootstrap, curl and jq if missing; starts its own dockerd (data root, socket
# and containerd under a temporary folder; no default bridge; --ip-forward=false and
# --iptables=false, so it changes no host firewall rule and no container traffic is routed off
# this machine; container networks come from a free 10.x/16); builds the base image the
# Dockerfile names (node:24-bookworm-slim) locally from debootstrap plus the pinned Node binary
# of the npm package `node`; builds the image the network-free way (APP_SOURCE=prebuilt, from a
# host-side `npm ci --omit=dev` in ./prebuilt, with dist/ as it is: `npm test` builds it first;
# run `npm run build` before running this script alone). Nodes use a private DHT protocol and no public
# bootstrap peers; the only network is the engine's bridges and the host's loopback.
# It removes everything it made (containers, images, volumes, networks, dockerd, its folders,
# ./prebuilt), also when a check fails or it is interrupted. Every wait is bounded.
#
# Exit status: 0 all checks passed; 1 a check failed; 77 skipped (the reason is printed: not
# root, P2PW_SKIP_DOCKER=1, or no Docker engine could be installed or started).
# Takes about 4-5 minutes with the base image cached, 8-9 without (debootstrap), on 2 cores.
# Environment: P2PW_DOCKER_CACHE (folder for the base image tarball, default ./tmp/docker-cache;
# set it empty to build the base afresh and keep nothing), P2PW_DEBIAN_MIRROR (default: the
# first Debian archive in /etc/apt/sources*).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
START=$SECONDS
SKIP=77

# fds 3 and 4: the script's own stdout and stderr, for messages from inside silenced probes.
exec 3>&1 4>&2
say() { echo "docker-test: $*" >&3; }
skip() { say "SKIP: $*"; exit "$SKIP"; }
fail() { say "FAIL: $*" 3>&4; exit 1; }
phase() { say "[$((SECONDS - START)) s] $*"; }

[ "${P2PW_SKIP_DOCKER:-}" = 1 ] && skip "P2PW_SKIP_DOCKER=1"
[ "$(id -u)" = 0 ] || skip "needs root (installs docker.io and starts a private dockerd)"

NODE="$REPO/node_modules/.bin/node" # the pinned Node 24 (devDependency `node`)
[ -x "$NODE" ] || fail "$NODE missing: run npm ci first"
NODE_BIN=$(readlink -f "$REPO/node_modules/node/bin/node")
[ -x "$NODE_BIN" ] || fail "the npm package node has no binary at node_modules/node/bin/node"

# ---- tools ------------------------------------------------------------------------------------
need=()
command -v dockerd >/dev/null 2>&1 && [ -x /usr/bin/docker ] || need+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v jq >/dev/null 2>&1 || need+=(jq)
if [ "${#need[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null 2>&1 || skip "no apt-get to install ${need[*]}"
  phase "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt_get() { timeout 600 apt-get -q -o DPkg::Lock::Timeout=300 "$@"; }
  apt_get install -y --no-install-recommends "${need[@]}" >/dev/null 2>&1 ||
    { apt_get update >/dev/null 2>&1 && apt_get install -y --no-install-recommends "${need[@]}" >/dev/null; } ||
    skip "could not install ${need[*]} with apt-get"
fi
# Debian's client, matched to its engine (another docker client may come first on PATH).
DOCKER=/usr/bin/docker
if "$DOCKER" compose version >/dev/null 2>&1; then COMPOSE=("$DOCKER" compose); else COMPOSE=(docker-compose); fi

# ---- the private engine, and cleanup ----------------------------------------------------------
W=$(mktemp -d /tmp/p2pweights-docker.XXXXXX)
export DOCKER_HOST="unix://$W/docker.sock"
unset DOCKER_CONTEXT DOCKER_CONFIG COMPOSE_FILE COMPOSE_PROJECT_NAME COMPOSE_PROFILES
export DOCKER_CONFIG="$W/client"
made_prebuilt=0
dockerd_pid=

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  set +e
  exec 1>&3 2>&4
  if [ -n "$dockerd_pid" ]; then
    if [ "$status" != 0 ] && [ "$status" != "$SKIP" ]; then
      for c in $(timeout 30 "$DOCKER" ps -aq 2>/dev/null); do
        say "container $(timeout 30 "$DOCKER" inspect -f '{{.Name}}: {{.State.Status}}, exit {{.State.ExitCode}}, {{.RestartCount}} restarts' "$c" 2>&1); last log lines:" >&2
        timeout 30 "$DOCKER" logs --tail 15 "$c" 2>&1 | sed 's/^/    /' >&2
      done
    fi
    for p in nas demo; do
      [ -f "$W/$p.project" ] && timeout 90 "${COMPOSE[@]}" $(cat "$W/$p.project") down -v --remove-orphans >/dev/null 2>&1
    done
    kill -TERM "$dockerd_pid" 2>/dev/null
    for _ in $(seq 60); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$dockerd_pid" 2>/dev/null
    # containerd and its shims, if dockerd could not stop them: only those under our folder.
    for pid in $(pgrep -f -- "$W/" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
  fi
  # Mounts the engine left (overlays, netns files), deepest first; never cross into one.
  grep -F " $W/" /proc/self/mounts | awk '{print $2}' | sort -r | while read -r m; do umount -l "$m"; done
  rm -rf --one-file-system "$W"
  [ "$made_prebuilt" = 1 ] && rm -rf --one-file-system "$REPO/prebuilt"
  if [ "$status" = 0 ]; then phase "PASS; everything it made is removed"
  elif [ "$status" != "$SKIP" ]; then phase "failed (status $status); everything it made is removed"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# waits <seconds> <what> <command…>: runs the command every second until it succeeds.
waits() {
  local limit=$1 what=$2; shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || fail "$what: not within $limit s"
    sleep 1
  done
}

phase "starting a private dockerd in $W"
mkdir -p "$W/client"
# The open-file limit Debian's docker.service gives the engine (LimitNOFILE=1048576): containers
# inherit it, and the compose file's `ulimits: nofile: 65536` cannot exceed it.
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"
# Container networks: a private 10.x/16 no route of this host uses yet (another run may hold one).
pool=
for _ in $(seq 20); do
  octet=$((200 + RANDOM % 50))
  { ip -4 route; ip -4 addr; } 2>/dev/null | grep -q -E "(^|[ /])10\.$octet\." || { pool="10.$octet.0.0/16"; break; }
done
[ -n "$pool" ] || fail "no free 10.x/16 for container networks"
dockerd --data-root "$W/root" --exec-root "$W/exec" --pidfile "$W/dockerd.pid" -H "$DOCKER_HOST" \
  --storage-driver overlay2 --bridge none --iptables=false --ip-forward=false --ip-masq=false \
  --default-address-pool "base=$pool,size=24" >"$W/dockerd.log" 2>&1 &
dockerd_pid=$!
deadline=$((SECONDS + 60))
until "$DOCKER" version >/dev/null 2>&1; do
  if ! kill -0 "$dockerd_pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
    tail -n 5 "$W/dockerd.log" >&2
    skip "no Docker engine could start (dockerd log above)"
  fi
  sleep 0.5
done
say "engine $("$DOCKER" version -f '{{.Server.Version}}'), networks from $pool, compose: $("${COMPOSE[@]}" version --short 2>/dev/null || "${COMPOSE[@]}" version | head -n 1)"

# ---- the base image: a local stand-in for the one the Dockerfile names -------------------------
mapfile -t bases < <(awk 'toupper($1) == "FROM" && $2 !~ /^\$/ { print $2 }' Dockerfile | sort -u)
[ "${#bases[@]}" = 1 ] || fail "expected one base image in the Dockerfile, found: ${bases[*]}"
BASE=${bases[0]}
node_version=$("$NODE_BIN" --version) # v24.9.0
node_major=${node_version#v}
node_major=${node_major%%.*}
[[ "$BASE" == "node:$node_major-"* || "$BASE" == "node:${node_version#v}"* ]] ||
  fail "the Dockerfile's base $BASE is not the pinned Node $node_version"
[[ "$BASE" == *bookworm* ]] || fail "the base $BASE is not Debian bookworm: the stand-in would not match"
CACHE=${P2PW_DOCKER_CACHE-$REPO/tmp/docker-cache}
tarball="${CACHE:-$W}/base-bookworm-node-$node_version.tar"
if [ ! -s "$tarball" ]; then
  mirror=${P2PW_DEBIAN_MIRROR:-$(grep -h -o -E 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null | head -n 1 | tr -d ' ' || true)}
  mirror=${mirror:-http://deb.debian.org/debian}
  phase "debootstrap --variant=minbase bookworm from $mirror"
  timeout 900 debootstrap --variant=minbase bookworm "$W/rootfs" "$mirror" >"$W/debootstrap.log" 2>&1 ||
    { tail -n 5 "$W/debootstrap.log" >&2; fail "debootstrap failed"; }
  rm -rf "$W"/rootfs/var/cache/apt/archives/*.deb "$W"/rootfs/var/lib/apt/lists/*
  install -m 0755 "$NODE_BIN" "$W/rootfs/usr/local/bin/node"
  mkdir -p "$(dirname "$tarball")"
  tar -C "$W/rootfs" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
  rm -rf --one-file-system "$W/rootfs"
else
  phase "base image from $tarball"
fi
"$DOCKER" import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' -c 'CMD ["node"]' \
  "$tarball" "$BASE" >/dev/null
[ -z "$CACHE" ] && rm -f "$tarball"
[ "$("$DOCKER" run --rm --network none "$BASE" node --version)" = "$node_version" ] || fail "$BASE does not run node $node_version"

# ---- the p2pweights image, the network-free way -----------------------------------------------
IMAGE=$(awk '$1 == "image:" { print $2; exit }' docker-compose.yml)
[ -n "$IMAGE" ] || fail "docker-compose.yml names no image"
[ -f dist/cli/main.js ] || { phase "npm run build"; npm run build >/dev/null; }
phase "prebuilt/: dist and npm ci --omit=dev"
rm -rf --one-file-system prebuilt
made_prebuilt=1
mkdir prebuilt
cp -r dist package.json package-lock.json prebuilt/
(cd prebuilt && timeout 300 npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null) ||
  fail "npm ci --omit=dev in prebuilt/ failed"
phase "docker build --network none --build-arg APP_SOURCE=prebuilt -t $IMAGE"
DOCKER_BUILDKIT=1 timeout 600 "$DOCKER" build --network none --build-arg APP_SOURCE=prebuilt -t "$IMAGE" . >"$W/build.log" 2>&1 ||
  { tail -n 20 "$W/build.log" >&2; fail "docker build failed"; }
rm -rf --one-file-system prebuilt
made_prebuilt=0

# ---- 1. the NAS service -----------------------------------------------------------------------
free_port() { "$NODE" -e 'const s = require("net").createServer().listen(0, "0.0.0.0", () => { console.log(s.address().port); s.close() })'; }
NAS="$W/nas"
mkdir -p "$NAS"
cp docker-compose.yml "$NAS/"
# The setup the compose file and the README tell users to run, verbatim (less sudo: we are root).
setup=$(grep -m1 -o -E 'mkdir -p data models && .*' docker-compose.yml | sed 's/[[:space:]]*#.*$//')
[ -n "$setup" ] || fail "docker-compose.yml has no 'mkdir -p data models && …' setup line"
grep -qF "$setup" README.md || fail "README.md does not give the compose file's setup line: $setup"
(cd "$NAS" && bash -c "${setup//sudo /}")
data_mode=$(stat -c '%u:%g %a' "$NAS/data")
[ "$data_mode" = "10001:10001 700" ] || fail "the setup line leaves data as $data_mode"

# A model the NAS owner already has, seeded in place from a read-only mount.
MODEL="$NAS/models/test-model"
mkdir -p "$MODEL/tokenizer"
printf '{"model_type":"llama","hidden_size":64}\n' >"$MODEL/config.json"
head -c $((24 * 1024 * 1024 + 4321)) /dev/urandom >"$MODEL/model.safetensors"
head -c 300000 /dev/urandom | base64 >"$MODEL/tokenizer/tokenizer.json"
model_bytes=$(find "$MODEL" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
snapshot_models() { (cd "$NAS/models" && find . -printf '%p %s %T@ %m %u\n' | sort); }
snapshot_models >"$W/models.before"

PROTO=/p2pweights-docker-test/kad/1.0.0
export P2PWEIGHTS_PORT P2PWEIGHTS_API_PORT
P2PWEIGHTS_PORT=$(free_port)
P2PWEIGHTS_API_PORT=$(free_port)
# The test's only change to the service: a private DHT, no public bootstrap peers and no UPnP
# router search (the command is the compose file's own, with these flags added).
"$NODE" --input-type=module -e '
  import { readFileSync, writeFileSync } from "node:fs"
  import { parse } from "yaml"
  const [file, out, proto] = process.argv.slice(1)
  const compose = parse(readFileSync(file, "utf8"), { merge: true })
  const command = [...compose.services.p2pweights.command, "--no-default-bootstrap", "--no-upnp", "--dht-protocol", proto]
  writeFileSync(out, JSON.stringify({ services: { p2pweights: { command } } }, null, 2))
' "$NAS/docker-compose.yml" "$NAS/test-override.json" "$PROTO"
echo "-p p2pwnas --project-directory $NAS -f $NAS/docker-compose.yml -f $NAS/test-override.json" >"$W/nas.project"
nas() { timeout 180 "${COMPOSE[@]}" $(cat "$W/nas.project") "$@"; }

phase "1. NAS: compose up -d (swarm port $P2PWEIGHTS_PORT, API 127.0.0.1:$P2PWEIGHTS_API_PORT)"
nas up -d --no-build >"$W/compose.log" 2>&1 || { cat "$W/compose.log" >&2; fail "compose up failed"; }
C=$(nas ps -q p2pweights)
[ -n "$C" ] || fail "no p2pweights container"
health() { "$DOCKER" inspect -f '{{.State.Health.Status}}' "$C"; }
# A container in a restart loop never turns healthy: say so at once, not after the bound.
healthy() {
  [ "$(health)" = healthy ] && return 0
  [ "$("$DOCKER" inspect -f '{{.RestartCount}}' "$C")" -lt 3 ] || fail "the container keeps restarting"
  return 1
}
waits 150 "health check healthy" healthy
phase "healthy"
[ "$("$DOCKER" exec "$C" id -u)" = 10001 ] || fail "the daemon does not run as uid 10001"

API="http://127.0.0.1:$P2PWEIGHTS_API_PORT"
waits 30 "api-token in the data volume" test -s "$NAS/data/api-token"
TOKEN=$(tr -d '\n' <"$NAS/data/api-token")
code=$(curl -s -o /dev/null -w '%{http_code}' -m 10 "$API/api/v1/models")
[ "$code" = 401 ] || fail "GET /api/v1/models without the token: HTTP $code, expected 401"
code=$(curl -s -o /dev/null -w '%{http_code}' -m 10 -H "Authorization: Bearer not-$TOKEN" "$API/api/v1/models")
[ "$code" = 401 ] || fail "GET /api/v1/models with a wrong token: HTTP $code, expected 401"
api() { curl -sS -f -m "${API_TIMEOUT:-10}" -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' "$@"; }
api "$API/api/v1/models" | jq -e 'length == 0' >/dev/null || fail "the token does not open the API"
[ "$(curl -s -m 10 "$API/healthz" | jq -r .ok)" = true ] || fail "/healthz without a token"

# Seeded as the README says (the CLI in the container hands it to the daemon), then the API,
# with the token, knows it and answers a second seed of the folder with the same model.
nas exec -T p2pweights p2pweights seed /models/test-model --data-dir /data >"$W/exec-seed.log" 2>&1 ||
  { cat "$W/exec-seed.log" >&2; fail "compose exec … p2pweights seed /models/test-model failed"; }
seeded=$(API_TIMEOUT=120 api -X POST -d '{"folder":"/models/test-model"}' "$API/api/v1/seeds") || fail "POST /api/v1/seeds failed"
CID=$(jq -r .cid <<<"$seeded")
jq -e --argjson b "$model_bytes" '.state == "seeding" and .kind == "seed" and .path == "/models/test-model" and .bytes == $b' <<<"$seeded" >/dev/null ||
  fail "the seed is not served in place: $seeded"
api "$API/api/v1/models" | jq -e 'length == 1' >/dev/null || fail "the folder was seeded twice: $(api "$API/api/v1/models")"
grep -q -F "$CID" "$W/exec-seed.log" || fail "compose exec … seed did not print $CID: $(cat "$W/exec-seed.log")"
nas exec -T p2pweights p2pweights ls --data-dir /data --json | jq -e --arg c "$CID" 'any(.models[]; .cid == $c)' >/dev/null ||
  fail "compose exec … p2pweights ls does not list $CID"
say "seeding $CID from /models/test-model ($model_bytes bytes)"
# Read-only for root in the container too: the mount, not only the file modes, protects it.
if ro=$("$DOCKER" exec -u 0 "$C" touch /models/test-model/probe 2>&1); then fail "/models is writable in the container"; fi
grep -q -i 'read-only' <<<"$ro" || fail "/models refused a write for another reason: $ro"
snapshot_models >"$W/models.after"
cmp -s "$W/models.before" "$W/models.after" || fail "the read-only model folder changed: $(diff "$W/models.before" "$W/models.after" | head -n 5)"
data_bytes=$(du -sb "$NAS/data" | cut -f1)
[ "$data_bytes" -lt $((model_bytes / 4)) ] || fail "the data volume holds $data_bytes bytes: the model was copied"

# A peer on the host reaches the node through the published swarm port and gets the bytes.
PEER=$(api "$API/api/v1/status" | jq -r .peerId)
phase "a host peer fetches $CID through 127.0.0.1:$P2PWEIGHTS_PORT"
timeout 180 "$NODE" dist/cli/main.js fetch "$CID" --json --no-daemon --data-dir "$W/host-peer" -o "$W/host-fetched" \
  --listen /ip4/127.0.0.1/tcp/0 --no-mdns --no-upnp --no-default-bootstrap --dht-protocol "$PROTO" \
  --bootstrap "/ip4/127.0.0.1/tcp/$P2PWEIGHTS_PORT/p2p/$PEER" >"$W/host-fetch.log" 2>&1 ||
  { tail -n 5 "$W/host-fetch.log" >&2; fail "the host peer could not fetch through the published swarm port"; }
diff -r "$MODEL" "$W/host-fetched" >/dev/null || fail "the host peer's bytes differ from the model"

# The data folder: still what the README says, and everything in it the container user's.
[ "$(stat -c '%u:%g %a' "$NAS/data")" = "10001:10001 700" ] || fail "data is now $(stat -c '%u:%g %a' "$NAS/data")"
foreign=$(find "$NAS/data" ! -uid 10001 | head -n 3 || true)
[ -z "$foreign" ] || fail "not owned by 10001 in data: $foreign"
# Its secrets are 0600 (the folder's 0700 keeps the rest of it private).
for secret in api-token peer.key; do
  [ "$(stat -c '%a' "$NAS/data/$secret" 2>&1)" = 600 ] || fail "data/$secret: mode $(stat -c '%a' "$NAS/data/$secret" 2>&1), expected 600"
done

# ---- 2. restart, kill, crash: the same CID again, nothing hashed again -------------------------
cache_state() { find "$NAS/data/hash-cache" -type f -printf '%f %i %T@\n' | sort; }
[ -n "$(cache_state)" ] || fail "no hash cache in the data volume"
cache_state >"$W/cache.before"
started() { "$DOCKER" inspect -f '{{.State.StartedAt}}' "$C"; }
state_is() { [ "$("$DOCKER" inspect -f '{{.State.Status}}' "$C")" = "$1" ]; }
restarted_since() { [ "$(started)" != "$1" ]; }
serves_again() {
  api "$API/api/v1/models/$CID" | jq -e '.state == "seeding" and .path == "/models/test-model"' >/dev/null
}
check_same() { # $1: what happened
  waits 90 "after $1, $CID served again" serves_again
  cache_state | cmp -s "$W/cache.before" - || fail "after $1 the hash cache was rewritten: the folder was hashed again"
  [ "$(api "$API/api/v1/status" | jq -r .peerId)" = "$PEER" ] || fail "after $1 the peer id changed"
  say "after $1: $CID served again, same peer id, hash cache untouched"
}

phase "2. compose restart"
before=$(started)
nas restart p2pweights >/dev/null 2>&1 || fail "compose restart failed"
[ "$(started)" != "$before" ] || fail "compose restart did not restart the container"
check_same "compose restart"

phase "docker kill, then compose up -d"
"$DOCKER" kill "$C" >/dev/null
waits 30 "container exited after docker kill" state_is exited
nas up -d --no-build >/dev/null 2>&1 || fail "compose up -d after docker kill failed"
[ "$(nas ps -q p2pweights)" = "$C" ] || fail "compose up -d made a new container instead of starting the killed one"
check_same "docker kill + compose up -d"

phase "a crash (SIGKILL of the node process): restart: unless-stopped brings it back"
before=$(started)
kill -KILL "$("$DOCKER" inspect -f '{{.State.Pid}}' "$C")"
waits 60 "the restart policy restarts the container" restarted_since "$before"
check_same "a crash"
waits 150 "health check healthy again" healthy
nas logs --no-color p2pweights >"$W/nas.log" 2>&1
# Four starts: the first with nothing, then three that each serve the model again at once.
[ "$(grep -c -E 'p2pweights daemon .*, 0 model' "$W/nas.log")" = 1 ] && [ "$(grep -c -E 'p2pweights daemon .*, 1 model' "$W/nas.log")" = 3 ] ||
  fail "the log does not show one first start and three restarts with the model: $(grep -E 'p2pweights daemon' "$W/nas.log")"
phase "healthy again"
nas down -v >/dev/null 2>&1 || fail "compose down failed"
rm -f "$W/nas.project"

# ---- 3. the demo profile ----------------------------------------------------------------------
echo "-p p2pwdemo -f $REPO/docker-compose.yml --profile demo" >"$W/demo.project"
demo() { timeout 300 "${COMPOSE[@]}" $(cat "$W/demo.project") "$@"; }
phase "3. demo profile: compose --profile demo up -d bootstrap seeder fetcher"
demo up -d --no-build bootstrap seeder fetcher >"$W/demo-up.log" 2>&1 || { cat "$W/demo-up.log" >&2; fail "demo up failed"; }
F=$(demo ps -q fetcher)
fetched_line() { local logs; logs=$(demo logs --no-color fetcher 2>&1) && grep -m1 'demo: fetched' <<<"$logs"; }
waits 180 "the demo fetcher completes" fetched_line
line=$(fetched_line)
path=$(sed -E 's/.* in (\/[^;]+); now seeding.*/\1/' <<<"$line")
[[ "$path" == /data/fetcher/* ]] || fail "the fetcher's model is not in its data volume: $line"
"$DOCKER" cp "$F:$path" "$W/demo-fetched"
diff -r "$REPO/demo/model" "$W/demo-fetched" || fail "the demo fetcher's bytes differ from ./demo/model"
say "demo: the fetcher, told only the bootstrap, holds ./demo/model byte for byte ($path)"
demo down -v >/dev/null 2>&1 || fail "demo down failed"
rm -f "$W/demo.project"
