// Deterministic synthetic clusters: a mix of ClusterIP, NodePort and LoadBalancer Services,
// some UDP and SCTP, some with session affinity, external IPs, externalTrafficPolicy Local
// and source ranges, each with its EndpointSlice. Every feature recurs within every 100
// Services, so each of kube-proxy's sets has members at every size and the iptables rules
// are the same from 100 to 10,000 Services. Endpoint nodes are seeded (pseudo-random).
interface Meta { readonly namespace: string; readonly name: string; readonly labels?: Record<string, string> }
export interface SvcObj { readonly apiVersion: 'v1'; readonly kind: 'Service'; readonly metadata: Meta; readonly spec: object; readonly status?: object }
export interface SliceObj { readonly apiVersion: 'discovery.k8s.io/v1'; readonly kind: 'EndpointSlice'; readonly metadata: Meta; readonly addressType: 'IPv4'; readonly endpoints: object[]; readonly ports: object[] }

/** A small LCG: the same seed gives the same cluster on every machine. */
function rng(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s % n; };
}

const ip4 = (base: number, i: number): string => `${base >> 8}.${base & 255}.${(i >> 8) & 255}.${i & 255}`;
// 2 % SCTP, ~14 % UDP; the residues are chosen so that NodePort and LoadBalancer Services with
// and without externalTrafficPolicy Local get each protocol within the first 100.
const proto = (i: number): string => (i % 50 === 14 ? 'SCTP' : i % 7 === 3 ? 'UDP' : 'TCP');

/**
 * Service i. Of every 20: 12 ClusterIP, 5 NodePort, 3 LoadBalancer (60/25/15 %); NodePort and
 * LoadBalancer ones with an even index have externalTrafficPolicy Local. NodePorts are unique
 * (30000 + i, health checks 50000 + i): a real cluster this size needs a wider
 * --service-node-port-range than the default 2,768 ports.
 */
export function service(i: number): SvcObj {
  const k = i % 20;
  const type = k < 12 ? 'ClusterIP' : k < 17 ? 'NodePort' : 'LoadBalancer';
  const local = type !== 'ClusterIP' && i % 2 === 0;
  // Source ranges: one that admits the node (its address is 192.168.1.10) every 20 Services; one
  // that excludes it only for Service 18, as that adds one iptables drop rule per LB address.
  const ranges = k === 17 ? ['192.168.1.0/24', '198.51.100.0/24'] : i === 18 ? ['198.51.100.0/24'] : [];
  return {
    apiVersion: 'v1', kind: 'Service',
    metadata: { namespace: `ns${i % 50}`, name: `svc${i}` },
    spec: {
      type, clusterIP: ip4((10 << 8) | 96, i + 1),
      ports: [{ name: 'p', port: 80, protocol: proto(i), ...(type === 'ClusterIP' ? {} : { nodePort: 30000 + i }) }],
      ...(i % 5 === 2 ? { sessionAffinity: 'ClientIP' } : {}),
      ...(k === 12 || k === 13 ? { externalIPs: [ip4((198 << 8) | 18, i + 1)] } : {}),
      ...(local ? { externalTrafficPolicy: 'Local' } : {}),
      ...(local && type === 'LoadBalancer' ? { healthCheckNodePort: 50000 + i } : {}),
      ...(ranges.length > 0 ? { loadBalancerSourceRanges: ranges } : {}),
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

/**
 * The whole cluster, as an informer holds it: parsed from JSON (flat strings, no objects shared
 * between Services), not as built here (template strings are ropes in V8, which would make the
 * memory figures differ from a daemon's).
 */
export function cluster(services: number, endpoints: number, seed: number): { services: SvcObj[]; slices: SliceObj[] } {
  const viaJson = <T>(o: T): T => JSON.parse(JSON.stringify(o)) as T;
  return {
    services: Array.from({ length: services }, (_, i) => viaJson(service(i))),
    slices: Array.from({ length: services }, (_, i) => viaJson(endpointSlice(i, endpoints, seed))),
  };
}
