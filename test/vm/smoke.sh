#!/bin/bash
# Traffic smoke test for the test VM. Run it inside the VM:
#   test/vm/run.sh -- /bin/bash test/vm/smoke.sh
# Two backends in their own network namespaces (veth), each serving its name over HTTP with
# busybox httpd; an IPVS round-robin virtual server (NAT mode) on a kube-ipvs0 dummy address;
# curl from the root namespace must alternate between the backends. Exits non-zero on failure.
set -euo pipefail

if [ "${KUBE_IPVS_VM:-}" != 1 ]; then
  echo "smoke.sh: run me inside the VM: test/vm/run.sh -- /bin/bash test/vm/smoke.sh" >&2
  exit 2
fi

VIP=10.96.0.10
PORT=8080
fail() { echo "smoke: FAIL: $*" >&2; exit 1; }
step() { echo "smoke: $*"; }

WORK=$(mktemp -d)
# backends: be1 at 10.244.1.5 behind veth-be1 (10.244.1.1), be2 at 10.244.2.5
for i in 1 2; do
  ns=be$i
  ip netns add "$ns"
  ip link add "veth-$ns" type veth peer name eth0 netns "$ns"
  ip addr add "10.244.$i.1/24" dev "veth-$ns"
  ip link set "veth-$ns" up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "10.244.$i.5/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" route add default via "10.244.$i.1"
  mkdir -p "$WORK/$ns"
  echo "$ns" >"$WORK/$ns/index.html"
  ip netns exec "$ns" /bin/busybox httpd -f -p "$PORT" -h "$WORK/$ns" &
done
step "backends be1 (10.244.1.5) and be2 (10.244.2.5) started"

# the kube-proxy-style dummy interface, left DOWN, holding the service address
ip link add kube-ipvs0 type dummy
ip addr add "$VIP/32" dev kube-ipvs0
ipvsadm -A -t "$VIP:80" -s rr
ipvsadm -a -t "$VIP:80" -r "10.244.1.5:$PORT" -m -w 1
ipvsadm -a -t "$VIP:80" -r "10.244.2.5:$PORT" -m -w 1
ipvsadm -Ln

# wait for both backends to answer directly
for i in 1 2; do
  ok=
  for _ in $(seq 50); do
    if curl -fsS -m 2 "http://10.244.$i.5:$PORT/" >/dev/null 2>&1; then ok=1; break; fi
    sleep 0.1
  done
  [ -n "$ok" ] || fail "backend be$i does not answer on 10.244.$i.5:$PORT"
done
step "backends answer directly"

# through the virtual server: round robin must alternate
got=()
for _ in 1 2 3 4; do
  got+=("$(curl -fsS -m 5 "http://$VIP/")") || fail "curl http://$VIP/ failed"
done
step "via $VIP:80: ${got[*]}"
[ "${got[0]}" != "${got[1]}" ] || fail "no alternation: ${got[*]}"
for k in 2 3; do
  [ "${got[$k]}" = "${got[$((k - 2))]}" ] || fail "round robin broken: ${got[*]}"
done
printf '%s\n' "${got[@]}" | sort -u | tr '\n' ' ' | grep -qx 'be1 be2 ' ||
  fail "expected be1 and be2, got: ${got[*]}"

# the kernel saw the connections
conns=$(ipvsadm -Lnc | grep -c "$VIP:80" || true)
[ "$conns" -ge 4 ] || fail "expected >= 4 IPVS connection entries, saw $conns"
step "IPVS connection table: $conns entries for $VIP:80"

echo "smoke: PASS"
