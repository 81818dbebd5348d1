#!/usr/bin/env bash
# Runs one command as root inside a throwaway VM booted from Debian's kernel (which has IPVS,
# dummy links, ipset, iptables, ...), with the host's root filesystem visible read-only under a
# tmpfs overlay, in the caller's working directory. The command's stdout/stderr stream to ours;
# we exit with its exit code.
#
#   test/vm/run.sh [--timeout SECONDS] [--env NAME[=VALUE]]... [--mem MiB] -- CMD [ARG...]
#
# Exit codes: CMD's own; 124 when the timeout (default 600 s) killed the VM; 125 when the VM
# failed (did not boot, or never reported an exit code).
# Environment: KUBE_IPVS_VM_SMP (vCPUs, default: host CPUs up to 4), KUBE_IPVS_VM_MEM (MiB,
# default 2048), KUBE_IPVS_VM_KEEP=1 (keep the temp folder with console.log), plus setup.sh's.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${KUBE_IPVS_VM_CACHE:-$ROOT/.cache/vm}

usage() {
  echo "usage: $0 [--timeout SECONDS] [--env NAME[=VALUE]]... [--mem MiB] -- CMD [ARG...]" >&2
  exit 125
}

TIMEOUT=600
MEM=${KUBE_IPVS_VM_MEM:-2048}
ENVS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --timeout) [ $# -ge 2 ] || usage; TIMEOUT=$2; shift 2 ;;
    --timeout=*) TIMEOUT=${1#*=}; shift ;;
    --mem) [ $# -ge 2 ] || usage; MEM=$2; shift 2 ;;
    --env) [ $# -ge 2 ] || usage; ENVS+=("$2"); shift 2 ;;
    --) shift; break ;;
    -h | --help) usage ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || usage
[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || { echo "run.sh: bad --timeout: $TIMEOUT" >&2; exit 125; }

"$HERE/setup.sh" || { echo "run.sh: test/vm/setup.sh failed" >&2; exit 125; }
KERNEL=$CACHE/kernel
INITRD=$CACHE/initramfs.cpio

TMP=$(mktemp -d "${TMPDIR:-/tmp}/kube-ipvs-vm.XXXXXX")
QPID=
cleanup() {
  if [ -n "$QPID" ]; then kill "$QPID" 2>/dev/null || true; fi
  if [ "${KUBE_IPVS_VM_KEEP:-0}" = 1 ]; then
    echo "run.sh: kept $TMP" >&2
  else
    rm -rf "$TMP"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir "$TMP/share"

# the job: cd to the caller's directory, set the environment, exec the command (arguments
# travel in this file, quoted, so spaces and quotes survive)
{
  echo '#!/bin/bash'
  printf 'cd -- %q 2>/dev/null || { echo %q >&2; exit 125; }\n' "$PWD" \
    "run.sh: the working directory $PWD does not exist in the VM (the host's disk is shared, but /tmp, /run and /dev are fresh)"
  for e in ${ENVS[@]+"${ENVS[@]}"}; do
    case "$e" in
      *=*) printf 'export %q=%q\n' "${e%%=*}" "${e#*=}" ;;
      *) if [ -n "${!e+x}" ]; then printf 'export %q=%q\n' "$e" "${!e}"; fi ;;
    esac
  done
  printf 'exec'
  printf ' %q' "$@"
  printf '\n'
} >"$TMP/share/job.sh"

SMP=${KUBE_IPVS_VM_SMP:-$(nproc)}
[ "$SMP" -gt 4 ] && SMP=4

# output: virtio consoles hvc0 = command stdout, hvc1 = command stderr (through fifos to ours);
# the serial port ttyS0 = kernel console + init log (kept in a file, shown only when the VM fails)
mkfifo "$TMP/stdout" "$TMP/stderr"
cat "$TMP/stdout" &
COUT=$!
cat "$TMP/stderr" >&2 &
CERR=$!

# the kernel: an ELF vmlinux boots through PVH; a bzImage the usual way
set +e
timeout --foreground -k 5 "$TIMEOUT" qemu-system-x86_64 \
  -nodefaults -no-user-config -machine q35 -accel tcg,thread=multi -cpu max \
  -smp "$SMP" -m "$MEM" \
  -kernel "$KERNEL" -initrd "$INITRD" \
  -append "console=ttyS0 quiet loglevel=4 panic=-1 rdinit=/init 8250.nr_uarts=1 tsc=reliable mitigations=off" \
  -nic none -display none -vga none -monitor none -no-reboot \
  -chardev "file,id=con,path=$TMP/console.log" -serial chardev:con \
  -device virtio-serial-pci,id=vser \
  -chardev "file,id=so,path=$TMP/stdout" -device virtconsole,chardev=so,bus=vser.0,nr=0 \
  -chardev "file,id=se,path=$TMP/stderr" -device virtconsole,chardev=se,bus=vser.0,nr=1 \
  -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
  -virtfs "local,path=$TMP/share,mount_tag=out,security_model=none,multidevs=remap" \
  </dev/null 2>"$TMP/qemu.err"
QRC=$?
set -e
# if qemu never opened the pipes (it failed early), let the readers see EOF; O_RDWR never blocks
exec 3<>"$TMP/stdout" 4<>"$TMP/stderr"
exec 3>&- 4>&-
wait "$COUT" "$CERR" 2>/dev/null || true

if [ -f "$TMP/share/rc" ]; then
  RC=$(cat "$TMP/share/rc")
  [[ "$RC" =~ ^[0-9]+$ ]] && exit "$RC"
fi
if [ "$QRC" = 124 ] || [ "$QRC" = 137 ]; then
  echo "run.sh: timed out after ${TIMEOUT}s; the VM was killed" >&2
  exit 124
fi
{
  echo "run.sh: the VM failed: it did not boot, or died before the command finished (qemu exited $QRC)."
  if [ -f "$TMP/share/init-error" ]; then echo "run.sh: VM init: $(cat "$TMP/share/init-error")"; fi
  if [ -s "$TMP/qemu.err" ]; then echo "--- qemu stderr:"; tail -n 20 "$TMP/qemu.err"; fi
  if [ -s "$TMP/console.log" ]; then echo "--- last kernel console lines:"; tail -n 30 "$TMP/console.log"; fi
} >&2
exit 125
