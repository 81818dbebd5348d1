#!/usr/bin/env bash
# apt-install.sh PACKAGE COMMAND...: installs Debian's PACKAGE when one of its COMMANDs (or
# files, given as an absolute path: /usr/include/stdio.h) is missing (as root, or through sudo), for the tests that run the real tool. Nothing when all are
# there. The one place the test set-up scripts install a Debian package from.
set -euo pipefail
pkg=$1
shift
say() { echo "apt-install: $*" >&2; }
missing=0
for c in "$@"; do
  case $c in
    /*) [ -e "$c" ] || missing=1 ;;
    *) command -v "$c" >/dev/null || [ -x "/usr/sbin/$c" ] || missing=1 ;;
  esac
done
[ "$missing" = 0 ] && exit 0
SUDO=()
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { say "not root and no sudo: install the Debian package $pkg by hand"; exit 1; }
  SUDO=(sudo)
fi
say "installing Debian package: $pkg"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -q >&2
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q \
  --no-install-recommends "$pkg" >&2
