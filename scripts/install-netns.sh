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

source "$(dirname "$0")/apt-install.sh"
apt_install install-netns "${packages[@]}"
echo "install-netns: $(ip -V 2>&1 | head -n 1); $(iptables --version 2>&1 | head -n 1)"
