// Deterministic synthetic clusters (seeded): a mix of ClusterIP, NodePort and LoadBalancer
// Services, some UDP, some with session affinity, each with its EndpointSlice.
interface Meta { readonly namespace: string; readonly name: string; readonly labels?: Record<string, string> }
export interface SvcObj { readonly apiVersion: 'v1'; readonly kind: 'Service'; readonly metadata: Meta; readonly spec: object; readonly status?: object }
export interface SliceObj { readonly apiVersion: 'discovery.k8s.io/v1'; readonly kind: 'EndpointSlice'; readonly metadata: Meta; readonly addressType: 'IPv4'; readonly endpoints: object[]; readonly ports: object[] }

/** A small LCG: the same seed gives the same cluster on every machine. */
function rng(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s % n; };
}

const ip4 = (base: number, i: number): string => `${base >> 8}.${base & 255}.${(i >> 8) & 255}.${i & 255}`;
const proto = (i: number): string => (i % 10 === 3 ? 'UDP' : 'TCP');

export function service(i: number, seed: number): SvcObj {
  const r = rng(seed + i);
  const kind = r(10); // 60% ClusterIP, 25% NodePort, 15% LoadBalancer
  const type = kind < 6 ? 'ClusterIP' : kind < 9 ? 'NodePort' : 'LoadBalancer';
  const nodePort = 30000 + (i % 2768);
  return {
    apiVersion: 'v1', kind: 'Service',
    metadata: { namespace: `ns${i % 50}`, name: `svc${i}` },
    spec: {
      type, clusterIP: ip4((10 << 8) | 96, i + 1),
      ports: [{ name: 'p', port: 80, protocol: proto(i), ...(type === 'ClusterIP' ? {} : { nodePort }) }],
      ...(r(5) === 0 ? { sessionAffinity: 'ClientIP' } : {}),
      ...(type === 'LoadBalancer' && r(2) === 0 ? { externalTrafficPolicy: 'Local', healthCheckNodePort: 32000 + (i % 767) } : {}),
    },
    ...(type === 'LoadBalancer' ? { status: { loadBalancer: { ingress: [{ ip: ip4((203 << 8) | 0, i + 1) }] } } } : {}),
  };
}

export function endpointSlice(i: number, endpoints: number, seed: number): SliceObj {
  const r = rng(seed * 7 + i);
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { namespace: `ns${i % 50}`, name: `svc${i}-x`, labels: { 'kubernetes.io/service-name': `svc${i}` } },
    addressType: 'IPv4',
    endpoints: Array.from({ length: endpoints }, (_, j) => ({
      addresses: [ip4((10 << 8) | 128 | (j & 127), i + 1)],
      conditions: { ready: true },
      nodeName: `node-${String.fromCharCode(97 + r(4))}`,
    })),
    ports: [{ name: 'p', port: 8080, protocol: proto(i) }],
  };
}

export function cluster(services: number, endpoints: number, seed: number): { services: SvcObj[]; slices: SliceObj[] } {
  return {
    services: Array.from({ length: services }, (_, i) => service(i, seed)),
    slices: Array.from({ length: services }, (_, i) => endpointSlice(i, endpoints, seed)),
  };
}
