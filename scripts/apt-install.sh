# Sourced by the install-*.sh scripts: installs Debian packages the tests need, the same way for
# each. `apt_install LABEL PACKAGE...` runs `apt-get update` only when the package lists do not
# offer every package yet (a fresh image has none), uses sudo when not root, and exits with
# "LABEL: ..." on any failure.

apt_fail() {
  echo "$1: $2" >&2
  exit 1
}

apt_install() {
  local label=$1
  shift
  command -v apt-get >/dev/null 2>&1 ||
    apt_fail "$label" "apt-get not found: install $* with your system's package manager"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || apt_fail "$label" "needs root to install $* (run it as root, or install sudo)"
    sudo=(sudo -n)
  fi
  export DEBIAN_FRONTEND=noninteractive
  local p candidate needs_update=0
  for p in "$@"; do
    candidate=$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ { print $2 }')
    if [ -z "$candidate" ] || [ "$candidate" = "(none)" ]; then needs_update=1; fi
  done
  if [ "$needs_update" -eq 1 ]; then
    echo "$label: apt-get update"
    "${sudo[@]}" apt-get update -q ||
      apt_fail "$label" "apt-get update failed: check the network and /etc/apt/sources.list; Debian's archive must be reachable"
  fi
  echo "$label: apt-get install $*"
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "$@" ||
    apt_fail "$label" "apt-get install $* failed (see above)"
}
