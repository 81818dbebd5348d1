#!/bin/bash
# The image's entrypoint, installed as /usr/local/bin/kube-ipvs: points `iptables` and
# `ip6tables` at the backend the host already uses, then runs kube-ipvs with the image's node.
#
# The host's kubelet and any other iptables user on the node must see kube-ipvs' rules, so the
# container has to use the same backend (legacy or nft) as the host. The choice follows
# kubernetes-sigs/iptables-wrappers (as kube-proxy's image does):
#   1. kubelet (1.17+) creates KUBE-IPTABLES-HINT / KUBE-KUBELET-CANARY in the mangle table:
#      whichever backend has them is the host's (nft checked first: `-t mangle` is cheap there,
#      while iptables-legacy-save -t mangle would create the table, so legacy is read whole);
#   2. otherwise the backend with more rules (`-A` lines), nft on a tie.
# KUBE_IPVS_IPTABLES_MODE=legacy|nft skips the detection. `plan` and --help touch nothing;
# --dry-run selects the backend (it reads the host's rules) but loads no kernel module.
set -euo pipefail

main=${KUBE_IPVS_MAIN:-/opt/kube-ipvs/dist/cli/main.js}
node=${KUBE_IPVS_NODE:-node}

say() { echo "kube-ipvs-entrypoint: $*" >&2; }

count() { # count REGEX COMMAND... — matching lines in the output of each command, errors ignored
  local regex=$1 n=0 c
  shift
  for cmd in "$@"; do
    # shellcheck disable=SC2086 # each command is a name plus fixed words, split on purpose
    c=$( { $cmd 2>/dev/null || true; } | grep -cE "$regex" || true)
    n=$((n + c))
  done
  echo "$n"
}

detect_mode() {
  local hint='^:(KUBE-IPTABLES-HINT|KUBE-KUBELET-CANARY)' legacy nft
  if [ "$(count "$hint" 'iptables-nft-save -t mangle' 'ip6tables-nft-save -t mangle')" -gt 0 ]; then
    echo nft; return
  fi
  if [ "$(count "$hint" iptables-legacy-save ip6tables-legacy-save)" -gt 0 ]; then
    echo legacy; return
  fi
  legacy=$(count '^-' iptables-legacy-save ip6tables-legacy-save)
  nft=$(count '^-' iptables-nft-save ip6tables-nft-save)
  if [ "$legacy" -gt "$nft" ]; then echo legacy; else echo nft; fi
}

select_iptables() {
  local mode=${KUBE_IPVS_IPTABLES_MODE:-}
  case "$mode" in
    legacy | nft) say "iptables backend: $mode (KUBE_IPVS_IPTABLES_MODE)" ;;
    '') mode=$(detect_mode); say "iptables backend: $mode (detected from the host's rules)" ;;
    *) say "KUBE_IPVS_IPTABLES_MODE=$mode: expected legacy or nft"; exit 2 ;;
  esac
  for t in iptables ip6tables; do
    if ! update-alternatives --set "$t" "/usr/sbin/$t-$mode" >/dev/null; then
      say "could not point $t at /usr/sbin/$t-$mode"; exit 1
    fi
  done
}

# kube-proxy loads the IPVS modules itself (the kernel would also load them on first use);
# /lib/modules is mounted from the host for this. Best effort: a module built in is fine.
load_modules() {
  if ! modprobe -a ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh nf_conntrack 2>/dev/null; then
    say "could not load the IPVS modules with modprobe (built in, or /lib/modules not mounted?); continuing"
  fi
}

wants_host=true
dry_run=false
prev=
for arg in "$@"; do
  case "$arg" in
    -h | --help | --write-config-to | --write-config-to=*) wants_host=false ;;
    # kube-ipvs reads booleans as Go's strconv.ParseBool, `--dry-run false` included.
    --dry-run | --dry-run=1 | --dry-run=[tT] | --dry-run=true | --dry-run=TRUE | --dry-run=True) dry_run=true ;;
    --dry-run=*) dry_run=false ;;
    0 | f | F | false | FALSE | False) [ "$prev" = --dry-run ] && dry_run=false ;;
  esac
  prev=$arg
done
[ "${1:-}" = plan ] && wants_host=false

if $wants_host; then
  select_iptables
  # Shadow mode changes nothing on the node, kernel modules included.
  $dry_run || load_modules
fi
exec "$node" "$main" "$@"
