#!/usr/bin/env bash
# Prepares the test VM: installs the Debian packages it needs (only if missing) and builds,
# into .cache/vm/, the kernel image to boot and a small busybox initramfs holding the kernel
# modules the tests need. Idempotent: it rebuilds only when its inputs changed and prints
# nothing when everything is up to date.
#
# Environment:
#   KUBE_IPVS_VM_CACHE   build folder (default: <repo>/.cache/vm)
#   KUBE_IPVS_VM_KVER    kernel version to use (default: newest one in /lib/modules with IPVS
#                        and a /boot/vmlinuz)
#   KUBE_IPVS_VM_VERBOSE=1  say what is done
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${KUBE_IPVS_VM_CACHE:-$ROOT/.cache/vm}
VERBOSE=${KUBE_IPVS_VM_VERBOSE:-0}

say() { echo "vm-setup: $*" >&2; }
note() { if [ "$VERBOSE" = 1 ]; then say "$@"; fi; }
die() { say "error: $*"; exit 1; }

# ---------------------------------------------------------------------------------------------
# 1. Debian packages
PACKAGES=(qemu-system-x86 linux-image-amd64 busybox-static ipvsadm ipset iptables nftables conntrack
  iproute2 curl kmod)

installed=$(dpkg-query -W -f='${db:Status-Status} ${Package}\n' "${PACKAGES[@]}" 2>/dev/null || true)
missing=()
for p in "${PACKAGES[@]}"; do
  grep -qx "installed $p" <<<"$installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || die "not root and no sudo: install ${missing[*]} by hand"
    SUDO=(sudo)
  fi
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${missing[@]}" >&2
fi

# ---------------------------------------------------------------------------------------------
# 2. Which kernel
pick_kver() {
  local k
  for k in $(ls -1 /lib/modules 2>/dev/null | sort -rV); do
    if [ -e "/boot/vmlinuz-$k" ] && [ -e "/lib/modules/$k/modules.dep" ] &&
      ls "/lib/modules/$k/kernel/net/netfilter/ipvs/" 2>/dev/null | grep -q '^ip_vs\.ko'; then
      echo "$k"
      return 0
    fi
  done
  return 1
}
KVER=${KUBE_IPVS_VM_KVER:-$(pick_kver)} ||
  die "no Debian kernel with IPVS modules found (is linux-image-amd64 installed?)"
VMLINUZ=/boot/vmlinuz-$KVER
[ -r "$VMLINUZ" ] || die "cannot read $VMLINUZ"
[ -d "/lib/modules/$KVER" ] || die "no /lib/modules/$KVER"

# ---------------------------------------------------------------------------------------------
# 3. Modules for the initramfs. A name ending in '?' is optional (skipped when this kernel has
# no such module). Each is resolved with its dependencies, in load order, by modprobe.
MODULES=(
  # boot: virtio PCI transport, 9p over virtio, overlayfs
  virtio_pci 9pnet_virtio 9p overlay
  # links
  dummy veth bridge br_netfilter
  # IPVS and every scheduler
  ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_lblc ip_vs_lblcr ip_vs_sh ip_vs_sed
  ip_vs_nq ip_vs_dh ip_vs_mh ip_vs_fo ip_vs_ovf ip_vs_twos?
  # conntrack, NAT, netlink
  nfnetlink nf_conntrack nf_conntrack_netlink nf_nat nfnetlink_log? nfnetlink_acct?
  # iptables (legacy)
  ip_tables ip6_tables iptable_nat iptable_filter iptable_mangle iptable_raw iptable_security?
  ip6table_nat ip6table_filter ip6table_mangle ip6table_raw ip6table_security?
  ipt_REJECT ip6t_REJECT
  # xtables matches and targets (used by iptables-legacy and, through nft_compat, iptables-nft)
  xt_MASQUERADE xt_mark xt_comment xt_addrtype xt_conntrack xt_set xt_physdev xt_multiport
  xt_tcpudp xt_nat xt_REDIRECT xt_statistic xt_state xt_ipvs xt_CT xt_connmark xt_limit
  xt_LOG xt_NFLOG? xt_pkttype xt_iprange xt_owner xt_hashlimit xt_recent xt_length
  xt_CHECKSUM? xt_TCPMSS? xt_tcpmss?
  # ipset and all set types
  ip_set ip_set_hash_ip ip_set_hash_ipport ip_set_hash_ipportip ip_set_hash_ipportnet
  ip_set_hash_net ip_set_hash_netport ip_set_hash_netnet ip_set_hash_netportnet
  ip_set_hash_netiface ip_set_hash_ipmark ip_set_hash_ipmac? ip_set_hash_mac
  ip_set_bitmap_ip ip_set_bitmap_ipmac ip_set_bitmap_port ip_set_list_set
  # nftables (iptables-nft is Debian's default iptables)
  nf_tables nft_compat nft_chain_nat nft_ct nft_nat nft_masq nft_redir nft_reject
  nft_reject_inet nft_reject_ipv4 nft_reject_ipv6 nft_limit nft_hash nft_numgen nft_fib
  nft_fib_inet nft_fib_ipv4 nft_fib_ipv6 nft_log nft_quota nft_objref nft_counter?
  nft_socket? nft_tproxy?
)
# extra insmod options per module
module_options() {
  case "$1" in
    dummy) echo "numdummies=0" ;;
    *) echo "" ;;
  esac
}

# ---------------------------------------------------------------------------------------------
# 4. Up to date?
SCRIPT_SUM=$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || die "no $BUSYBOX (busybox-static)"
KEY=$(printf '%s\n' "kver=$KVER" "script=$SCRIPT_SUM" \
  "vmlinuz=$(stat -c '%s %Y' "$VMLINUZ")" \
  "modules.dep=$(stat -c '%s %Y' "/lib/modules/$KVER/modules.dep")" \
  "busybox=$(stat -c '%s %Y' "$BUSYBOX")" | sha256sum | cut -d' ' -f1)

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9
if [ -f "$CACHE/stamp" ] && [ "$(cat "$CACHE/stamp")" = "$KEY" ] && [ -f "$CACHE/kernel" ] &&
  [ -f "$CACHE/initramfs.cpio" ]; then
  note "up to date ($KVER)"
  exit 0
fi
say "building VM kernel + initramfs for $KVER into $CACHE"

BUILD=$(mktemp -d "$CACHE/.build.XXXXXX")
trap 'rm -rf "$BUILD"' EXIT

# ---------------------------------------------------------------------------------------------
# 5. Kernel: the uncompressed ELF vmlinux inside Debian's bzImage boots directly (PVH) and
# saves ~2.5 s of XZ decompression under emulation. Fall back to the bzImage.
extract_vmlinux() {
  local off
  command -v xz >/dev/null || return 1
  # candidate offsets of the XZ stream magic FD 37 7A 58 5A 00
  for off in $(LC_ALL=C grep -obUaP '\xFD7zXZ\x00' "$VMLINUZ" | cut -d: -f1 | head -5); do
    tail -c +$((off + 1)) "$VMLINUZ" | xz -dc 2>/dev/null >"$BUILD/vmlinux" || true
    if [ "$(head -c 4 "$BUILD/vmlinux" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ]; then
      return 0
    fi
  done
  rm -f "$BUILD/vmlinux"
  return 1
}
if extract_vmlinux; then
  mv "$BUILD/vmlinux" "$BUILD/kernel.img"
  echo elf >"$BUILD/kernel.kind"
  note "kernel: ELF vmlinux extracted from $VMLINUZ"
else
  cp "$VMLINUZ" "$BUILD/kernel.img"
  echo bzimage >"$BUILD/kernel.kind"
  note "kernel: $VMLINUZ (bzImage; could not extract vmlinux)"
fi

# ---------------------------------------------------------------------------------------------
# 6. Initramfs
IRD=$BUILD/initramfs
mkdir -p "$IRD"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,mnt,newroot,out,tmp,etc}
cp "$BUSYBOX" "$IRD/bin/busybox"

declare -A seen=()
: >"$IRD/modules.list"
for spec in "${MODULES[@]}"; do
  name=${spec%\?}
  if ! deps=$(modprobe -S "$KVER" --show-depends "$name" 2>/dev/null); then
    if [ "$spec" = "$name" ]; then say "warning: module $name not found for $KVER"; fi
    note "skipping optional module $name"
    continue
  fi
  while read -r verb path _rest; do
    [ "$verb" = insmod ] || continue # "builtin NAME" lines need nothing
    [ -n "${seen[$path]:-}" ] && continue
    seen[$path]=1
    rel=${path#/}
    mod=$(basename "$path")
    mod=${mod%%.ko*}
    mkdir -p "$IRD/$(dirname "$rel")"
    case "$path" in
      *.ko) cp "$path" "$IRD/$rel" ;;
      *.ko.xz) xz -dc "$path" >"$IRD/${rel%.xz}"; rel=${rel%.xz} ;;
      *.ko.zst) zstd -qdc "$path" >"$IRD/${rel%.zst}"; rel=${rel%.zst} ;;
      *.ko.gz) gzip -dc "$path" >"$IRD/${rel%.gz}"; rel=${rel%.gz} ;;
      *) die "unknown module file type: $path" ;;
    esac
    # modules are all named with '_' by the kernel; options keyed by that name
    echo "/$rel $(module_options "${mod//-/_}")" >>"$IRD/modules.list"
  done <<<"$deps"
done
note "initramfs: $(wc -l <"$IRD/modules.list") modules"

# modprobe helper for the kernel's module autoload: runs the real modprobe inside the chroot
# (the kernel runs it in the initramfs root, where there is no kmod and no /lib/modules tree)
cat >"$IRD/sbin/vm-modprobe" <<'EOF'
#!/bin/busybox sh
exec /bin/busybox chroot /newroot /sbin/modprobe "$@"
EOF
chmod 755 "$IRD/sbin/vm-modprobe"

cat >"$IRD/init" <<'EOF'
#!/bin/busybox sh
# init of the kube-ipvs test VM (written by test/vm/setup.sh). Its own messages go to the
# kernel console (ttyS2, a log file on the host); the command's stdout/stderr go to ttyS0/ttyS1.
/bin/busybox --install -s
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/null >/dev/console 2>&1
echo "vm-init: started at $(cut -d" " -f1 /proc/uptime)s"

fail() {
  echo "vm-init: error: $*"
  [ -d /out/. ] && echo "$*" >/out/init-error 2>/dev/null
  sync
  poweroff -f
  sleep 5
}

# modules (preloaded in dependency order)
while read -r mod opts; do
  insmod "$mod" $opts 2>/dev/null || echo "vm-init: insmod $mod failed"
done </modules.list
echo /sbin/vm-modprobe >/proc/sys/kernel/modprobe
echo "vm-init: modules loaded at $(cut -d" " -f1 /proc/uptime)s"

# shares: the host root (read-only) and the per-run folder (writable)
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 out /out ||
  fail "cannot mount the 9p share 'out'"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,ro,cache=loose hostroot /mnt ||
  fail "cannot mount the host root over 9p"
[ -f /out/job.sh ] || fail "no job.sh in the share"

# overlay: host root below, tmpfs above
mkdir -p /rw && mount -t tmpfs -o mode=0755 tmpfs /rw
mkdir -p /rw/upper/etc/modprobe.d /rw/work
# hot /etc files: every open() over 9p is slow (ipset re-reads /etc/protocols per element)
for f in protocols services nsswitch.conf ld.so.cache hosts passwd group shadow host.conf \
  gai.conf localtime ethertypes rpc; do
  [ -f "/mnt/etc/$f" ] && cp "/mnt/etc/$f" "/rw/upper/etc/$f"
done
echo "options dummy numdummies=0" >/rw/upper/etc/modprobe.d/kube-ipvs-vm.conf
echo kube-ipvs-vm >/rw/upper/etc/hostname
echo "127.0.1.1 kube-ipvs-vm" >>/rw/upper/etc/hosts
hostname kube-ipvs-vm
mount -t overlay overlay \
  -o lowerdir=/mnt,upperdir=/rw/upper,workdir=/rw/work,index=off,xino=off,redirect_dir=off,metacopy=off \
  /newroot || fail "cannot mount the overlay root"

R=/newroot
mount -t proc proc $R/proc
mount -t sysfs sysfs $R/sys
mount -t devtmpfs devtmpfs $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts -o mode=620,ptmxmode=666 devpts $R/dev/pts
mount -t tmpfs -o mode=1777 tmpfs $R/dev/shm
ln -sf /proc/self/fd $R/dev/fd
ln -sf /proc/self/fd/0 $R/dev/stdin
ln -sf /proc/self/fd/1 $R/dev/stdout
ln -sf /proc/self/fd/2 $R/dev/stderr
mount -t tmpfs -o mode=1777 tmpfs $R/tmp
mount -t tmpfs -o mode=755 tmpfs $R/run
mkdir -p $R/run/netns $R/run/lock $R/run/vm
mount -o bind /out $R/run/vm
# host folders shared writable (run.sh --rw DIR), at the same path
if [ -f /out/mounts ]; then
  while read -r tag path mode; do
    # A read-only share (a checkout under /tmp) is cached like the root; a writable one is not.
    opts=trans=virtio,version=9p2000.L,msize=512000
    [ "$mode" = ro ] && opts=$opts,ro,cache=loose
    mkdir -p "$R$path" &&
      mount -t 9p -o "$opts" "$tag" "$R$path" ||
      fail "cannot mount the share $path"
  done </out/mounts
fi
[ -d $R/sys/fs/cgroup ] && mount -t cgroup2 cgroup2 $R/sys/fs/cgroup 2>/dev/null

# network defaults of a node; everything under /proc/sys stays writable for the tests
ip link set lo up
echo 1 >/proc/sys/net/ipv4/ip_forward
echo 1 >/proc/sys/net/ipv6/conf/all/forwarding 2>/dev/null

# run the command: stdout -> ttyS0, stderr -> ttyS1 through pipes (so it sees no tty)
stty -F /dev/ttyS0 raw -echo 2>/dev/null
stty -F /dev/ttyS1 raw -echo 2>/dev/null
mkfifo /tmp/o /tmp/e
cat /tmp/o >/dev/ttyS0 & co=$!
cat /tmp/e >/dev/ttyS1 & ce=$!
echo "vm-init: running job at $(cut -d" " -f1 /proc/uptime)s"
env -i HOME=/root USER=root LOGNAME=root SHELL=/bin/bash TERM=dumb LANG=C.UTF-8 \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin KUBE_IPVS_VM=1 \
  /bin/busybox chroot $R /bin/bash /run/vm/job.sh </dev/null >/tmp/o 2>/tmp/e
rc=$?
echo "vm-init: job exited $rc at $(cut -d" " -f1 /proc/uptime)s"
# processes the job left behind may hold the pipes open: give the output 1 s to drain
(sleep 1; kill $co $ce 2>/dev/null) & k=$!
wait $co $ce 2>/dev/null
kill $k 2>/dev/null
echo $rc >/out/rc.tmp && mv /out/rc.tmp /out/rc
sync
poweroff -f
EOF
chmod 755 "$IRD/init"

# archive (uncompressed: the kernel unpacks it faster than it would decompress it)
(
  cd "$IRD"
  if command -v cpio >/dev/null; then
    find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet
  else
    find . -mindepth 1 | LC_ALL=C sort | "$BUSYBOX" cpio -o -H newc 2>/dev/null
  fi
) >"$BUILD/initramfs.cpio"

echo "$KVER" >"$BUILD/kver"
cp "$IRD/modules.list" "$BUILD/modules.list"
for f in kernel.img kernel.kind initramfs.cpio kver modules.list; do
  mv -f "$BUILD/$f" "$CACHE/${f/kernel.img/kernel}"
done
echo "$KEY" >"$CACHE/stamp"
say "done: $(cat "$CACHE/kernel.kind") kernel, $(wc -l <"$CACHE/modules.list") modules," \
  "initramfs $(($(stat -c %s "$CACHE/initramfs.cpio") / 1024)) KiB"
