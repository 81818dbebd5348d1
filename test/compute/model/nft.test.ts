// The nftables table is rendered from the same set members and rule inputs as the ipsets and
// KUBE-* rules: every ipset has its nft set with the same members, and the rules never grow
// with Services.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildNftTable, nftElement, nftSetName, withoutCoveredRanges } from '../../../src/compute/model/nft.ts';
import { SET_BASES } from '../../../src/compute/model/ipsets.ts';
import { compute, lbStatus, makeService, makeSlice, ep, makeNode, NODE } from '../builders.ts';
import { desiredOf, exampleCluster } from '../nft-example.ts';

test('every ipset of both families is an nft set holding the same members', () => {
  const { desired, table } = desiredOf(exampleCluster());
  assert.equal(desired.ipsets.length, 2 * SET_BASES.length);
  for (const s of desired.ipsets) {
    const n = table.sets.find((x) => x.name === nftSetName(s.base, s.family));
    assert.ok(n !== undefined, s.name);
    assert.deepEqual([...n.elements].sort(), s.entries.map(nftElement).sort(), s.name);
  }
  const cidr = table.sets.find((s) => s.name === 'load-balancer-source-cidr-v4');
  assert.deepEqual(cidr?.type, ['ipv4_addr', 'inet_proto', 'inet_service', 'ipv4_addr']);
  assert.ok(cidr.interval && cidr.elements.length > 0);
});

test('ipset members map to nft concatenations', () => {
  assert.equal(nftElement('10.96.0.10,udp:53'), '10.96.0.10 . udp . 53');
  assert.equal(nftElement('fd00::1,tcp:80,fd00::1'), 'fd00::1 . tcp . 80 . fd00::1');
  assert.equal(nftElement('203.0.113.10,tcp:80,10.0.0.0/8'), '203.0.113.10 . tcp . 80 . 10.0.0.0/8');
  assert.equal(nftElement('30080'), '30080');
  assert.equal(nftElement('10.96.0.10'), '10.96.0.10');
});

test('a source range inside another range of the same VIP and port is left out (the kernel refuses overlaps)', () => {
  assert.deepEqual(withoutCoveredRanges([
    '1.2.3.4 . tcp . 80 . 10.0.0.0/8', '1.2.3.4 . tcp . 80 . 10.1.0.0/16', '1.2.3.4 . tcp . 80 . 10.1.2.3',
    '1.2.3.4 . tcp . 443 . 10.1.0.0/16', '1.2.3.4 . tcp . 80 . 192.168.0.0/16',
  ]).sort(), ['1.2.3.4 . tcp . 443 . 10.1.0.0/16', '1.2.3.4 . tcp . 80 . 10.0.0.0/8', '1.2.3.4 . tcp . 80 . 192.168.0.0/16']);
});

function lbCluster(n: number, ranges: string[]) {
  return {
    nodes: [makeNode(NODE, ['192.168.1.10'])],
    services: Array.from({ length: n }, (_, i) => makeService('d', `s${i}`, {
      type: 'LoadBalancer', clusterIP: `10.96.1.${i + 1}`, loadBalancerSourceRanges: ranges,
      externalTrafficPolicy: i % 2 === 0 ? 'Local' : 'Cluster', healthCheckNodePort: i % 2 === 0 ? 32000 + i : 0,
      ports: [{ name: 'p', port: 80, nodePort: 30000 + i }],
    }, lbStatus(`203.0.113.${i + 1}`))),
    endpointSlices: Array.from({ length: n }, (_, i) => makeSlice('d', `s${i}`, [ep(`10.244.0.${i + 1}`, { node: NODE })], [{ name: 'p', port: 8080 }])),
  };
}

test('the chains are the same for 1 Service and for 40: Services change set elements only', () => {
  const table = (n: number) => { const d = compute(lbCluster(n, ['10.0.0.0/8'])).desired; return buildNftTable(d.ipsets, d.iptables); };
  const one = table(1);
  const many = table(40);
  assert.deepEqual(many.chains, one.chains);
  assert.ok(many.sets.reduce((a, s) => a + s.elements.length, 0) > one.sets.reduce((a, s) => a + s.elements.length, 0));
  // …whereas the iptables backend grows one OUT-FILTER rule per VIP the node may not reach:
  // here those VIPs are elements of the out-filter set instead.
  assert.equal(many.sets.find((s) => s.name === 'ipvs-out-filter-v4')?.elements.length, 40);
  assert.ok(many.sets.find((s) => s.name === 'ipvs-out-filter-v4')?.elements.includes('203.0.113.7 . 203.0.113.7 . tcp . 80'));
});

test('the rules follow the config exactly as the KUBE-* rules do', () => {
  const rules = (raw: Parameters<typeof compute>[1]) => {
    const d = compute(lbCluster(1, []), raw).desired;
    return buildNftTable(d.ipsets, d.iptables).chains.flatMap((c) => c.rules.map((r) => `${c.name}: ${r}`));
  };
  assert.ok(rules({ masqueradeAll: true }).includes('services: ip daddr . meta l4proto . th dport @cluster-ip-v4 jump mark-masq'));
  assert.ok(rules({ clusterCidr: '10.244.0.0/16' }).includes('services: ip saddr != 10.244.0.0/16 ip daddr . meta l4proto . th dport @cluster-ip-v4 jump mark-masq'));
  assert.ok(rules({ detectLocalMode: 'InterfaceNamePrefix', interfaceNamePrefix: 'veth' }).includes('services: iifname != "veth*" ip daddr . meta l4proto . th dport @cluster-ip-v4 jump mark-masq'));
  assert.ok(rules({}).includes('services: ip saddr . meta l4proto . th dport @cluster-ip-v4 jump mark-masq'));
  assert.ok(rules({ masqueradeBit: 3 }).includes('mark-masq: meta mark set meta mark | 0x00000008'));
});
