// Small builders for Kubernetes objects and configs, in the style of kube-proxy's
// makeTestService(ns, name, func(*Service)): a sane default, then the test's changes.
import { resolveConfig, type ProxyConfig, type RawProxyConfig } from '../../src/compute/config.ts';
import type { Cluster } from '../../src/compute/k8s/manifests.ts';
import type { Endpoint, EndpointSlice, Node, Service } from '../../src/compute/k8s/objects.ts';
import { computeDesired, type ComputeResult } from '../../src/compute/model/compute-desired.ts';
import { formatIpvsadmSave } from '../../src/tools/ipvsadm.ts';

type Mutable<T> = { -readonly [K in keyof T]: T[K] extends object ? Mutable<T[K]> : T[K] };
export type ServiceSpec = NonNullable<Mutable<Service>['spec']>;

export function makeService(ns: string, name: string, spec: ServiceSpec, extra: Partial<Service> = {}): Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { namespace: ns, name }, spec, ...extra };
}

export function lbStatus(...ips: (string | { ip: string; ipMode: string })[]): Partial<Service> {
  return { status: { loadBalancer: { ingress: ips.map((i) => (typeof i === 'string' ? { ip: i } : i)) } } };
}

export interface EpOpts {
  readonly node?: string;
  readonly ready?: boolean;
  readonly serving?: boolean;
  readonly terminating?: boolean;
  readonly zoneHints?: readonly string[];
  readonly nodeHints?: readonly string[];
}

export function ep(address: string, o: EpOpts = {}): Endpoint {
  return {
    addresses: [address],
    conditions: {
      ...(o.ready === undefined ? {} : { ready: o.ready }),
      ...(o.serving === undefined ? {} : { serving: o.serving }),
      ...(o.terminating === undefined ? {} : { terminating: o.terminating }),
    },
    ...(o.node === undefined ? {} : { nodeName: o.node }),
    ...(o.zoneHints === undefined && o.nodeHints === undefined ? {} : {
      hints: {
        ...(o.zoneHints === undefined ? {} : { forZones: o.zoneHints.map((name) => ({ name })) }),
        ...(o.nodeHints === undefined ? {} : { forNodes: o.nodeHints.map((name) => ({ name })) }),
      },
    }),
  };
}

export function makeSlice(
  ns: string, service: string, endpoints: readonly Endpoint[],
  ports: readonly { name?: string; port: number; protocol?: string }[],
  o: { name?: string; addressType?: string; labels?: Record<string, string> } = {},
): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      namespace: ns,
      name: o.name ?? `${service}-abc`,
      labels: { 'kubernetes.io/service-name': service, ...o.labels },
    },
    addressType: o.addressType ?? 'IPv4',
    endpoints,
    ports: ports.map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP' })),
  };
}

export function makeNode(name: string, addresses: readonly string[], labels: Record<string, string> = {}): Node {
  return {
    apiVersion: 'v1', kind: 'Node', metadata: { name, labels },
    status: { addresses: addresses.map((address) => ({ type: 'InternalIP', address })) },
  };
}

export const NODE = 'node-a';

export function config(raw: RawProxyConfig = {}): ProxyConfig {
  return resolveConfig({ hostnameOverride: NODE, nodeAddresses: ['192.168.1.10'], ...raw }, 'unused-hostname');
}

export function compute(objs: Partial<Cluster>, raw: RawProxyConfig = {}): ComputeResult {
  return computeDesired({ services: [], endpointSlices: [], nodes: [], ...objs }, config(raw));
}

/** The ipvsadm-save lines of a computed state, for readable assertions. */
export function ipvsLines(r: ComputeResult): string[] {
  return formatIpvsadmSave(r.desired.virtualServers.values()).split('\n').filter((l) => l !== '');
}

/** Members of one set. */
export function members(r: ComputeResult, set: string): readonly string[] {
  return r.desired.ipsets.find((s) => s.name === set)?.entries ?? [];
}
