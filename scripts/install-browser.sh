#!/usr/bin/env bash
# Installs Debian's Chromium (/usr/bin/chromium) for the dashboard's browser test
# (tests/integration/dashboard.browser.test.ts, driven by playwright-core), plus a font so pages
# render text. Idempotent: does nothing but print the version when both are already there, and
# runs `apt-get update` only when the package lists do not know chromium yet.
# Needs root (or sudo) and Debian's package archive. CI runs it before `npm test`.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
FONT_PACKAGE=fonts-dejavu-core

fail() {
  echo "install-browser: $*" >&2
  exit 1
}

have_font() {
  command -v fc-list >/dev/null 2>&1 && [ -n "$(fc-list 2>/dev/null | head -n 1)" ]
}

print_version() {
  # Debian's wrapper script sources its defaults before starting the binary; --version must
  # still print one line such as "Chromium 156.0.8078.79 built on Debian GNU/Linux 12".
  local version
  version=$("$CHROMIUM" --version 2>/dev/null | grep -m1 -i chromium) ||
    fail "$CHROMIUM is installed but does not run ('$CHROMIUM --version' failed); try: apt-get install --reinstall chromium"
  echo "install-browser: $version ($CHROMIUM)"
}

packages=()
[ -x "$CHROMIUM" ] || packages+=(chromium)
have_font || packages+=("$FONT_PACKAGE")
if [ "${#packages[@]}" -eq 0 ]; then
  print_version
  exit 0
fi

command -v apt-get >/dev/null 2>&1 ||
  fail "apt-get not found: this script installs Debian's chromium package; on another system install Chromium so that $CHROMIUM exists"

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || fail "needs root to install ${packages[*]} (run it as root, or install sudo)"
  SUDO=(sudo -n)
fi

export DEBIAN_FRONTEND=noninteractive
# Update the package lists only if they do not offer every package yet (a fresh image has none).
needs_update=0
for p in "${packages[@]}"; do
  candidate=$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ { print $2 }')
  if [ -z "$candidate" ] || [ "$candidate" = "(none)" ]; then needs_update=1; fi
done
if [ "$needs_update" -eq 1 ]; then
  echo "install-browser: apt-get update"
  "${SUDO[@]}" apt-get update -q ||
    fail "apt-get update failed: check the network and /etc/apt/sources.list; Debian's archive must be reachable"
fi

echo "install-browser: apt-get install ${packages[*]}"
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${packages[@]}" ||
  fail "apt-get install ${packages[*]} failed (see above); the dashboard test needs $CHROMIUM"

[ -x "$CHROMIUM" ] || fail "chromium was installed but $CHROMIUM is missing"
print_version
