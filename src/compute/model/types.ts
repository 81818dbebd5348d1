// The desired kernel state: what kube-proxy's IPVS mode would program, as data.
import type { Ip } from '../net/ip.ts';
import { flat } from '../text.ts';

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP'];

/** namespace/name of a Service. */
export type ServiceKey = string;

/** Which Service port a virtual server belongs to (for logs, metrics, ownership). */
export interface ServicePortRef {
  readonly namespace: string;
  readonly name: string;
  /** The Service port's name; "" for an unnamed port. */
  readonly port: string;
}

export interface RealServer {
  readonly ip: Ip;
  readonly port: number;
  /** 1 for an endpoint in rotation; 0 only while draining (the dataplane sets that). */
  readonly weight: number;
  /** Always NAT, as kube-proxy: kept here so a desired real server is also its observed form. */
  readonly forwarding: 'masq';
}

export type VipKind = 'cluster-ip' | 'external-ip' | 'load-balancer' | 'node-port';

export interface VirtualServer {
  /** Identity: `PROTO/addr:port`, e.g. `TCP/10.96.0.10:80`, `UDP/[fd00::a]:53`. */
  readonly key: string;
  readonly protocol: Protocol;
  readonly ip: Ip;
  readonly port: number;
  readonly scheduler: string;
  /** Scheduler flags (`mh-port`, `sh-fallback`…), sorted. */
  readonly schedulerFlags: readonly string[];
  /** Persistence timeout in seconds (session affinity ClientIP), absent when not persistent. */
  readonly persistence?: number;
  readonly realServers: readonly RealServer[];
  readonly kind: VipKind;
  readonly service: ServicePortRef;
}

export const virtualServerKey = (protocol: Protocol, ip: Ip, port: number): string =>
  ip.family === 6 ? flat(protocol, '/[', ip.text, ']:', port) : flat(protocol, '/', ip.text, ':', port);

/** A problem with one object; that object (or the named part of it) was skipped. */
export interface Warning {
  /** `Service`, `EndpointSlice`, `Node` or `Config`. */
  readonly kind: string;
  /** namespace/name (or name for cluster-scoped objects). */
  readonly object: string;
  /** JSON-path-like field, e.g. `spec.ports[0].port`. */
  readonly field: string;
  readonly message: string;
}

export const formatWarning = (w: Warning): string =>
  `${w.kind} ${w.object}: ${w.field}: ${w.message}`;
