// Rendered Services in a few shapes that share NodePorts, external IPs, source ranges and
// endpoints on purpose: the material of the incremental-index and incremental-dataplane tests.
import assert from 'node:assert/strict';
import { buildContext } from '../../src/compute/model/context.ts';
import { mergeSlices, parseEndpointSlice } from '../../src/compute/model/endpoints.ts';
import { renderService, type ServiceState } from '../../src/compute/model/render.ts';
import { parseService } from '../../src/compute/model/service.ts';
import { config, ep, lbStatus, makeService, makeSlice } from './builders.ts';

export const cfg = config({ nodeAddresses: ['192.168.1.10'] });
export const ctx = buildContext(cfg, undefined);

/** Service i in shape `shape % 4` (ClusterIP, NodePort, LB with eTP Local, UDP with an external IP), `n` endpoints. */
export function shapedService(i: number, shape: number, n: number): ServiceState {
  const spec = [
    { clusterIP: `10.96.0.${i}`, ports: [{ name: 'p', port: 80 }] },
    { type: 'NodePort', clusterIP: `10.96.0.${i}`, ports: [{ name: 'p', port: 80, nodePort: 30000 + (i % 3) }] },
    { type: 'LoadBalancer', clusterIP: `10.96.0.${i}`, externalTrafficPolicy: 'Local', healthCheckNodePort: 32000 + i, loadBalancerSourceRanges: [i % 2 === 0 ? '192.168.1.0/24' : '198.51.100.0/24'], ports: [{ name: 'p', port: 80, nodePort: 31000 + i }] },
    { clusterIP: `10.96.0.${i}`, externalIPs: ['203.0.113.9'], ports: [{ name: 'p', port: 443, protocol: 'UDP' }] },
  ][shape % 4]!;
  const svc = makeService('d', `s${i}`, spec, shape % 4 === 2 ? lbStatus(`203.0.113.${i}`) : {});
  const proto = shape % 4 === 3 ? 'UDP' : 'TCP';
  // Endpoints overlap between Services (10.244.0.j), so hairpin members are shared too.
  const slice = makeSlice('d', `s${i}`, Array.from({ length: n }, (_, j) => ep(`10.244.${j % 2 === 0 ? 0 : i}.${j + 1}`, { node: j % 3 === 0 ? 'node-b' : 'node-a' })), [{ name: 'p', port: 8080, protocol: proto }]);
  const p = parseService(svc, cfg);
  const r = parseEndpointSlice(slice);
  assert.ok(p.kind === 'proxied' && r.kind === 'parsed');
  return renderService(p.info, mergeSlices([r.slice]), ctx);
}
