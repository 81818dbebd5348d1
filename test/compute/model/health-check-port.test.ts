// The health-check node port of an eTP=Local LoadBalancer is opened (KUBE-HEALTH-CHECK-NODE-PORT)
// only in a family where the Service's NodePorts have an address on this node: kube-proxy's
// IPVS proxier reaches that entry only past its NodePort block, left early without node IPs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compute, lbStatus, makeService, members } from '../builders.ts';

const lb = (nodePort: number) => makeService('shop', 'web', {
  type: 'LoadBalancer', clusterIP: '10.96.0.20', externalTrafficPolicy: 'Local', healthCheckNodePort: 32000,
  ports: [{ name: 'http', port: 80, nodePort }],
}, lbStatus('203.0.113.10'));

test('with NodePort addresses in the family, the health-check port is opened', () => {
  assert.deepEqual(members(compute({ services: [lb(30080)] }), 'KUBE-HEALTH-CHECK-NODE-PORT'), ['32000']);
});

test('with no NodePort address in the family (--nodeport-addresses excludes them all), it is not', () => {
  const r = compute({ services: [lb(30080)] }, { nodePortAddresses: ['10.0.0.0/8'] });
  assert.deepEqual(members(r, 'KUBE-HEALTH-CHECK-NODE-PORT'), []);
  assert.deepEqual(members(r, 'KUBE-NODE-PORT-TCP'), [], 'no NodePort either');
});

test('a LoadBalancer without NodePorts (allocateLoadBalancerNodePorts: false) still opens it, as kube-proxy does', () => {
  const r = compute({ services: [lb(0)] }, { nodePortAddresses: ['10.0.0.0/8'] });
  assert.deepEqual(members(r, 'KUBE-HEALTH-CHECK-NODE-PORT'), ['32000']);
});
