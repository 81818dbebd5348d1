// v1.Service → validated per-port facts (kube-proxy: pkg/proxy/serviceport.go, service.go).
// A Service is either proxied, ignored (headless, ExternalName, no ClusterIP, another
// proxy's), or invalid (a warning naming the field; the whole Service is skipped).
import {
  SCHEDULER_ANNOTATION, SCHEDULER_FLAGS_ANNOTATION, SERVICE_PROXY_NAME_LABEL, HEADLESS_LABEL,
  type Service,
} from '../k8s/objects.ts';
import { SCHEDULER_FLAGS, SCHEDULERS, isScheduler, type ProxyConfig, type Scheduler } from '../config.ts';
import { parseCidr, parseIp, type Cidr, type Ip } from '../net/ip.ts';
import { PROTOCOLS, type Protocol, type ServicePortRef, type Warning } from './types.ts';
import { parseHealthCheck, type HealthCheckSpec } from './health-check.ts';

export const DEFAULT_AFFINITY_TIMEOUT = 10800; // seconds, v1.DefaultClientIPServiceAffinitySeconds
const MAX_AFFINITY_TIMEOUT = 86400;

export interface ServicePortInfo {
  readonly ref: ServicePortRef;
  readonly protocol: Protocol;
  readonly port: number;
  /** 0 when the port has no NodePort. */
  readonly nodePort: number;
}

export interface ServiceInfo {
  readonly namespace: string;
  readonly name: string;
  readonly ports: readonly ServicePortInfo[];
  /** One per IP family at most. */
  readonly clusterIps: readonly Ip[];
  readonly externalIps: readonly Ip[];
  /** LoadBalancer ingress IPs in VIP mode (`ipMode: Proxy` ones are not programmed). */
  readonly loadBalancerIps: readonly Ip[];
  readonly sourceRanges: readonly Cidr[];
  /** ClientIP session affinity timeout in seconds; absent without affinity. */
  readonly affinityTimeout?: number;
  readonly externalPolicyLocal: boolean;
  readonly internalPolicyLocal: boolean;
  /** The Service's health-check node port (LoadBalancer with eTP=Local), else 0. */
  readonly healthCheckNodePort: number;
  readonly scheduler: Scheduler;
  readonly schedulerFlags: readonly string[];
  /** Active health check (ipvs.kube-ipvs.io/health-check); absent: none, or an invalid one. */
  readonly healthCheck?: HealthCheckSpec;
}

export type ParsedService =
  | { readonly kind: 'proxied'; readonly info: ServiceInfo; readonly warnings: readonly Warning[] }
  | { readonly kind: 'ignored'; readonly reason: string }
  | { readonly kind: 'invalid'; readonly warnings: readonly Warning[] };

const validPort = (p: unknown): p is number => Number.isInteger(p) && (p as number) >= 1 && (p as number) <= 65535;

/** The label selector kube-proxy's informers use; plan applies the same filter. */
export function ignoredByLabels(labels: Readonly<Record<string, string>> | undefined): string | undefined {
  if (labels === undefined) return undefined;
  if (SERVICE_PROXY_NAME_LABEL in labels) return `labelled ${SERVICE_PROXY_NAME_LABEL}=${labels[SERVICE_PROXY_NAME_LABEL] ?? ''} (another proxy)`;
  if (HEADLESS_LABEL in labels) return `labelled ${HEADLESS_LABEL}`;
  return undefined;
}

class Problems {
  readonly list: Warning[] = [];
  readonly object: string;
  constructor(object: string) { this.object = object; }
  add(field: string, message: string): void {
    this.list.push({ kind: 'Service', object: this.object, field, message });
  }
}

function parseScheduler(svc: Service, config: ProxyConfig, notes: Problems): { scheduler: Scheduler; flags: string[] } {
  const annotations = svc.metadata?.annotations ?? {};
  const wanted = annotations[SCHEDULER_ANNOTATION]?.trim();
  const flagText = annotations[SCHEDULER_FLAGS_ANNOTATION]?.trim();
  const fallback = { scheduler: config.scheduler, flags: config.scheduler === 'mh' ? ['mh-port'] : [] };
  const field = (a: string): string => `metadata.annotations[${a}]`;
  let scheduler: Scheduler = config.scheduler;
  if (wanted !== undefined && wanted !== '') {
    if (!isScheduler(wanted)) {
      notes.add(field(SCHEDULER_ANNOTATION), `"${wanted}" is not an IPVS scheduler (valid: ${SCHEDULERS.join(', ')}); using the global scheduler "${config.scheduler}"`);
      return fallback;
    }
    scheduler = wanted;
  }
  // kube-proxy always hashes on source port too with mh (`-b mh-port`).
  if (flagText === undefined || flagText === '') return { scheduler, flags: scheduler === 'mh' ? ['mh-port'] : [] };
  const allowed = SCHEDULER_FLAGS[scheduler] ?? [];
  const flags = [...new Set(flagText.split(',').map((f) => f.trim()).filter((f) => f !== ''))].sort();
  const bad = flags.filter((f) => !allowed.includes(f));
  if (bad.length > 0) {
    const valid = allowed.length > 0 ? `valid for ${scheduler}: ${allowed.join(', ')}` : `scheduler ${scheduler} takes no flags`;
    notes.add(field(SCHEDULER_FLAGS_ANNOTATION), `"${bad.join(',')}" not accepted (${valid}); using the global scheduler "${config.scheduler}"`);
    return fallback;
  }
  return { scheduler, flags };
}

function parseIps(values: readonly unknown[] | undefined, field: string, notes: Problems, indexed = true): Ip[] {
  const out: Ip[] = [];
  (values ?? []).forEach((v, i) => {
    const ip = typeof v === 'string' ? parseIp(v.trim()) : undefined;
    if (ip === undefined) notes.add(indexed ? `${field}[${i}]` : field, `"${String(v)}" is not a valid IP address`);
    else if (!out.some((o) => o.text === ip.text)) out.push(ip);
  });
  return out;
}

function parseClusterIps(svc: Service, notes: Problems): Ip[] | 'none' {
  const spec = svc.spec ?? {};
  const texts = spec.clusterIPs !== undefined && spec.clusterIPs.length > 0
    ? spec.clusterIPs
    : spec.clusterIP === undefined ? [] : [spec.clusterIP];
  if (texts.length === 0 || texts[0] === '' || texts[0] === 'None') return 'none';
  const plural = spec.clusterIPs !== undefined && spec.clusterIPs.length > 0;
  const field = plural ? 'spec.clusterIPs' : 'spec.clusterIP';
  const ips = parseIps(texts, field, notes, plural);
  if (ips.length === 2 && ips[0]?.family === ips[1]?.family) notes.add(field, 'two ClusterIPs of the same IP family');
  return ips;
}

function parsePorts(svc: Service, namespace: string, name: string, notes: Problems): ServicePortInfo[] {
  const ports = svc.spec?.ports ?? [];
  if (ports.length === 0) notes.add('spec.ports', 'a Service needs at least one port');
  const out: ServicePortInfo[] = [];
  ports.forEach((p, i) => {
    const f = `spec.ports[${i}]`;
    const protocol = (p.protocol ?? 'TCP') as Protocol;
    if (!PROTOCOLS.includes(protocol)) notes.add(`${f}.protocol`, `"${String(p.protocol)}" is not one of ${PROTOCOLS.join(', ')}`);
    if (!validPort(p.port)) notes.add(`${f}.port`, `${String(p.port)} is not a port number in [1, 65535]`);
    const nodePort = p.nodePort ?? 0;
    if (nodePort !== 0 && !validPort(nodePort)) notes.add(`${f}.nodePort`, `${String(p.nodePort)} is not a port number in [1, 65535]`);
    const portName = p.name ?? '';
    if (out.some((o) => o.ref.port === portName && o.protocol === protocol)) {
      notes.add(`${f}.name`, `duplicate port name "${portName}" for ${protocol}`);
    }
    out.push({ ref: { namespace, name, port: portName }, protocol, port: p.port ?? 0, nodePort });
  });
  return out;
}

function parseAffinity(svc: Service, notes: Problems): number | undefined {
  const spec = svc.spec ?? {};
  if (spec.sessionAffinity === undefined || spec.sessionAffinity === 'None') return undefined;
  if (spec.sessionAffinity !== 'ClientIP') {
    notes.add('spec.sessionAffinity', `"${spec.sessionAffinity}" is not one of None, ClientIP`);
    return undefined;
  }
  const t = spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_TIMEOUT;
  if (!Number.isInteger(t) || t < 1 || t > MAX_AFFINITY_TIMEOUT) {
    notes.add('spec.sessionAffinityConfig.clientIP.timeoutSeconds', `${t} is not in [1, ${MAX_AFFINITY_TIMEOUT}]`);
  }
  return t;
}

function parsePolicy(value: string | undefined, field: string, notes: Problems): boolean {
  if (value === undefined || value === 'Cluster') return false;
  if (value === 'Local') return true;
  notes.add(field, `"${value}" is not one of Cluster, Local`);
  return false;
}

/** Validates a Service and extracts what the IPVS proxier programs for it. */
export function parseService(svc: Service, config: ProxyConfig): ParsedService {
  const namespace = svc.metadata?.namespace ?? 'default';
  const name = svc.metadata?.name ?? '';
  const notes = new Problems(`${namespace}/${name || '<unnamed>'}`);
  const byLabel = ignoredByLabels(svc.metadata?.labels);
  // Wrongly typed fields (found by decode): nothing of this Service can be trusted.
  if (byLabel === undefined) for (const p of svc.problems ?? []) notes.add(p.field, p.message);
  if (name === '' && notes.list.length === 0) notes.add('metadata.name', 'missing');
  if (notes.list.length > 0) return { kind: 'invalid', warnings: notes.list };
  if (byLabel !== undefined) return { kind: 'ignored', reason: byLabel };
  const spec = svc.spec ?? {};
  const type = spec.type ?? 'ClusterIP';
  if (type === 'ExternalName') return { kind: 'ignored', reason: 'type ExternalName' };
  if (!['ClusterIP', 'NodePort', 'LoadBalancer'].includes(type)) {
    notes.add('spec.type', `"${type}" is not one of ClusterIP, NodePort, LoadBalancer, ExternalName`);
    return { kind: 'invalid', warnings: notes.list };
  }
  const clusterIps = parseClusterIps(svc, notes);
  if (clusterIps === 'none') {
    return { kind: 'ignored', reason: spec.clusterIP === 'None' ? 'headless (clusterIP: None)' : 'no ClusterIP' };
  }
  const ports = parsePorts(svc, namespace, name, notes);
  const externalIps = parseIps(spec.externalIPs, 'spec.externalIPs', notes);
  const ingress = svc.status?.loadBalancer?.ingress ?? [];
  const vipIngress = ingress.filter((ing) => ing.ip !== undefined && ing.ip !== '' && ing.ipMode !== 'Proxy');
  const loadBalancerIps = parseIps(vipIngress.map((ing) => ing.ip), 'status.loadBalancer.ingress[].ip', notes);
  const sourceRanges: Cidr[] = [];
  (spec.loadBalancerSourceRanges ?? []).forEach((r, i) => {
    // kube-proxy trims spaces around each range (users write "1.2.3.0/24, 5.6.0.0/16").
    const c = parseCidr(r.trim());
    if (c === undefined) notes.add(`spec.loadBalancerSourceRanges[${i}]`, `"${r}" is not a valid CIDR`);
    else sourceRanges.push(c);
  });
  const affinityTimeout = parseAffinity(svc, notes);
  const externallyAccessible = type !== 'ClusterIP' || externalIps.length > 0;
  const etpLocal = parsePolicy(spec.externalTrafficPolicy, 'spec.externalTrafficPolicy', notes);
  const internalPolicyLocal = parsePolicy(spec.internalTrafficPolicy, 'spec.internalTrafficPolicy', notes);
  const externalPolicyLocal = etpLocal && externallyAccessible;
  let healthCheckNodePort = 0;
  if (type === 'LoadBalancer' && externalPolicyLocal) {
    healthCheckNodePort = spec.healthCheckNodePort ?? 0;
    if (!validPort(healthCheckNodePort)) {
      notes.add('spec.healthCheckNodePort', `${String(spec.healthCheckNodePort)} is not a port number in [1, 65535] (needed for externalTrafficPolicy: Local)`);
    }
  }
  if (notes.list.length > 0) return { kind: 'invalid', warnings: notes.list };
  // Scheduler annotation problems are reported but do not skip the Service.
  const { scheduler, flags } = parseScheduler(svc, config, notes);
  // So are health-check annotation problems: the Service is proxied, unchecked.
  const hc = parseHealthCheck(svc.metadata?.annotations, ports.some((p) => p.protocol === 'TCP'));
  for (const p of hc.problems) notes.add(p.field, p.message);
  return {
    kind: 'proxied',
    warnings: notes.list,
    info: {
      namespace, name, ports, clusterIps, externalIps, loadBalancerIps, sourceRanges,
      ...(affinityTimeout === undefined ? {} : { affinityTimeout }),
      externalPolicyLocal, internalPolicyLocal, healthCheckNodePort,
      scheduler, schedulerFlags: flags,
      ...(hc.spec === undefined ? {} : { healthCheck: hc.spec }),
    },
  };
}
