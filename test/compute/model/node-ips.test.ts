// The node IP per family as kube-proxy's detectNodeIPs finds it (cmd/kube-proxy/app/server.go):
// the Node object's first address of the family (InternalIPs, then ExternalIPs), else loopback.
// Never an interface address. Its two uses: `--nodeport-addresses primary` and whether the node
// itself may reach its own LoadBalancer through loadBalancerSourceRanges.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Node } from '../../../src/compute/k8s/objects.ts';
import { buildContext } from '../../../src/compute/model/context.ts';
import { compute, config, lbStatus, makeNode, makeService, members, NODE } from '../builders.ts';

const ADDRS = ['192.168.1.10', '10.0.0.10', 'fd00::10', 'fd00::11'];
const nodeWith = (addrs: { type: string; address: string }[]): Node => ({ ...makeNode(NODE, []), status: { addresses: addrs } });

test('per family: the Node object\'s first InternalIP, then ExternalIP; loopback for a family it lacks', () => {
  const ctx = (n: Node | undefined) => buildContext(config({ nodeAddresses: ADDRS }), n).primaryIps.map((ip) => ip.text);
  assert.deepEqual(ctx(nodeWith([{ type: 'ExternalIP', address: '203.0.113.5' }, { type: 'InternalIP', address: '10.0.0.10' }])), ['10.0.0.10', '::1']);
  assert.deepEqual(ctx(nodeWith([{ type: 'InternalIP', address: 'fd00::11' }, { type: 'ExternalIP', address: '203.0.113.5' }])), ['203.0.113.5', 'fd00::11']);
  // No Node object (or no addresses on it): loopback for both, not an interface address.
  assert.deepEqual(ctx(undefined), ['127.0.0.1', '::1']);
});

test('--nodeport-addresses primary: the node IP in its family, every address in a family without one', () => {
  const nodePorts = (n: Node) => compute({
    services: [makeService('shop', 'web', {
      type: 'NodePort', clusterIP: '10.96.0.20', clusterIPs: ['10.96.0.20', 'fd00::20'], ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'RequireDualStack', ports: [{ name: 'http', port: 80, nodePort: 30080 }] })],
    nodes: [n],
  }, { nodeAddresses: ADDRS, nodePortAddresses: ['primary'] }).desired.virtualServers;
  const on = (n: Node): string[] => [...nodePorts(n).values()].filter((v) => v.kind === 'node-port').map((v) => v.ip.text).sort();
  assert.deepEqual(on(makeNode(NODE, ['10.0.0.10'])), ['10.0.0.10', 'fd00::10', 'fd00::11'], 'IPv6 has no node IP: match-all');
  assert.deepEqual(on(makeNode(NODE, ['10.0.0.10', 'fd00::11'])), ['10.0.0.10', 'fd00::11']);
});

test('a loopback node IP never matches a source range: the node gets an OUT-FILTER drop, not a SOURCE-IP member', () => {
  const svc = makeService('shop', 'web', { type: 'LoadBalancer', clusterIP: '10.96.0.20', loadBalancerSourceRanges: ['192.168.0.0/16', '127.0.0.0/8'], ports: [{ name: 'http', port: 80, nodePort: 30080 }] }, lbStatus('203.0.113.10'));
  const withIp = compute({ services: [svc], nodes: [makeNode(NODE, ['192.168.1.10'])] });
  assert.deepEqual(members(withIp, 'KUBE-LOAD-BALANCER-SOURCE-IP'), ['203.0.113.10,tcp:80,203.0.113.10']);
  // The Node object has no IPv4 address; the interface's 192.168.1.10 is no node IP.
  const without = compute({ services: [svc], nodes: [makeNode(NODE, ['fd00::10'])] });
  assert.deepEqual(members(without, 'KUBE-LOAD-BALANCER-SOURCE-IP'), []);
  assert.ok((without.desired.iptables[0]?.filter.rules ?? []).some((l) => l.startsWith('-A KUBE-IPVS-OUT-FILTER -s 203.0.113.10/32')));
});
