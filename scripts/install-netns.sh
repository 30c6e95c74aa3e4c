#!/usr/bin/env bash
# Installs what the network-namespace tests (tests/integration/netns/) need: `ip` (iproute2) and
# `iptables` from Debian's archive. Idempotent: does nothing but print the versions when both are
# there, and runs `apt-get update` only when the package lists do not offer them yet.
# Needs root (or sudo); the tests themselves need root too and skip, saying why, without it.
set -euo pipefail

fail() {
  echo "install-netns: $*" >&2
  exit 1
}

packages=()
command -v ip >/dev/null 2>&1 || packages+=(iproute2)
command -v iptables >/dev/null 2>&1 || packages+=(iptables)
if [ "${#packages[@]}" -eq 0 ]; then
  echo "install-netns: $(ip -V 2>&1 | head -n 1); $(iptables --version 2>&1 | head -n 1)"
  exit 0
fi

command -v apt-get >/dev/null 2>&1 ||
  fail "apt-get not found: install ${packages[*]} with your system's package manager (the netns tests skip without them)"

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || fail "needs root to install ${packages[*]} (run it as root, or install sudo)"
  SUDO=(sudo -n)
fi

export DEBIAN_FRONTEND=noninteractive
needs_update=0
for p in "${packages[@]}"; do
  candidate=$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ { print $2 }')
  if [ -z "$candidate" ] || [ "$candidate" = "(none)" ]; then needs_update=1; fi
done
if [ "$needs_update" -eq 1 ]; then
  echo "install-netns: apt-get update"
  "${SUDO[@]}" apt-get update -q || fail "apt-get update failed: Debian's archive must be reachable"
fi

echo "install-netns: apt-get install ${packages[*]}"
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${packages[@]}" ||
  fail "apt-get install ${packages[*]} failed (see above)"
echo "install-netns: $(ip -V 2>&1 | head -n 1); $(iptables --version 2>&1 | head -n 1)"
