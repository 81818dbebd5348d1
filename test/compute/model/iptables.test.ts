// kube-proxy's IPVS mode keeps iptables rules fixed in number: Services only change set members.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compute, ep, lbStatus, makeNode, makeService, makeSlice } from '../builders.ts';
import type { ComputeResult } from '../../../src/compute/model/compute-desired.ts';

function cluster(n: number) {
  const services = [];
  const endpointSlices = [];
  for (let i = 0; i < n; i++) {
    const ip = `10.96.${Math.floor(i / 250)}.${(i % 250) + 1}`;
    const kind = i % 4;
    services.push(makeService('bench', `s${i}`, {
      type: kind === 0 ? 'ClusterIP' : kind === 1 ? 'NodePort' : 'LoadBalancer',
      clusterIP: ip,
      externalTrafficPolicy: kind === 3 ? 'Local' : 'Cluster',
      ...(kind === 3 ? { healthCheckNodePort: 32000 + i } : {}),
      ...(kind === 2 ? { loadBalancerSourceRanges: ['192.168.0.0/16'] } : {}),
      ...(kind === 0 || kind === 3 ? { externalIPs: [`198.51.${Math.floor(i / 250)}.${(i % 250) + 1}`] } : {}),
      ports: [
        { name: 't', port: 80, protocol: 'TCP', ...(kind === 0 ? {} : { nodePort: 30000 + 2 * i }) },
        { name: 'u', port: 53, protocol: 'UDP', ...(kind === 0 ? {} : { nodePort: 30001 + 2 * i }) },
      ],
    }, kind >= 2 ? lbStatus(`203.0.${Math.floor(i / 250)}.${(i % 250) + 1}`) : {}));
    endpointSlices.push(makeSlice('bench', `s${i}`, [ep(`10.244.${i % 200}.${(i % 250) + 1}`, { node: i % 2 === 0 ? 'node-a' : 'node-b' })], [{ name: 't', port: 8080 }, { name: 'u', port: 5353, protocol: 'UDP' }]));
  }
  // The Node object gives the node IP that the source ranges include (detectNodeIPs).
  return compute({ services, endpointSlices, nodes: [makeNode('node-a', ['192.168.1.10'])] });
}

const ruleCount = (r: ComputeResult): number =>
  r.desired.iptables.reduce((n, t) => n + t.nat.rules.length + t.filter.rules.length + t.jumps.length, 0);

test('the iptables rule count is the same with 5 and with 500 Services', () => {
  const small = cluster(5);
  const large = cluster(500);
  assert.equal(large.desired.virtualServers.size > 100 * small.desired.virtualServers.size / 5, true, 'the large cluster really is larger');
  assert.equal(ruleCount(small), ruleCount(large));
  // Every set with members in the large cluster also has members in the small one, so the
  // same conditional rules are present: equal counts mean equal rules.
  assert.deepEqual(small.desired.iptables.map((t) => t.nat.rules), large.desired.iptables.map((t) => t.nat.rules));
});

test('LB source ranges that include the node add no rule; OUT-FILTER drops appear only when they exclude it', () => {
  const drops = (r: ComputeResult) => r.desired.iptables.flatMap((t) => t.filter.rules).filter((l) => l.startsWith('-A KUBE-IPVS-OUT-FILTER'));
  assert.equal(drops(cluster(500)).length, 0);
});
