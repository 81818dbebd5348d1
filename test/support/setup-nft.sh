#!/usr/bin/env bash
# Installs Debian's `nftables` package (the `nft` tool) if missing: the nftables backend's unit
# tests check and apply its scripts with the real nft in a fresh network namespace
# (`unshare -n`), and the test VM uses the host's nft binary.
set -euo pipefail

"$(dirname "$0")/apt-install.sh" nftables nft
