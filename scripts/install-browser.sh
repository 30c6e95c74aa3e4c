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

source "$(dirname "$0")/apt-install.sh"
apt_install install-browser "${packages[@]}"

[ -x "$CHROMIUM" ] || fail "chromium was installed but $CHROMIUM is missing"
print_version
