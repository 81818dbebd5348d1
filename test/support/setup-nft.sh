#!/usr/bin/env bash
# Installs Debian's `nftables` package (the `nft` tool) if missing: the nftables backend's unit
# tests check and apply its scripts with the real nft in a fresh network namespace
# (`unshare -n`), and the test VM uses the host's nft binary.
set -euo pipefail

say() { echo "nft-setup: $*" >&2; }

if ! command -v nft >/dev/null && [ ! -x /usr/sbin/nft ]; then
  SUDO=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { say "not root and no sudo: install the Debian package nftables by hand"; exit 1; }
    SUDO=(sudo)
  fi
  say "installing Debian package: nftables"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -q >&2
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q \
    --no-install-recommends nftables >&2
fi
