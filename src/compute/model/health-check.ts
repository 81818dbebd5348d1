// Active health checks, the pure half: the Service annotations that opt in, and how a check
// result enters the desired state (an endpoint held down renders at weight 0). The prober
// (observe/health-checker.ts) produces the results; nothing here does I/O.
//
// Grammar of ipvs.kube-ipvs.io/health-check (one of):
//   tcp                 TCP connect to the endpoint's port of the Service's first TCP port
//   tcp:<port>          TCP connect to <port> on the endpoint's address
//   http:<path>         HTTP GET <path> (starts with "/") on that same endpoint port
//   http:<port><path>   HTTP GET <path> on <port>, e.g. http:8081/healthz
// A 2xx or 3xx answer is a success (as the kubelet's HTTP probe).
import { HEALTH_CHECK_ANNOTATIONS } from '../k8s/objects.ts';
import { parseDuration } from '../duration.ts';
import type { Ip } from '../net/ip.ts';
import type { ServiceKey, VirtualServer } from './types.ts';

export type HealthCheckKind = 'tcp' | 'http';
export const HEALTH_CHECK_KINDS: readonly HealthCheckKind[] = ['tcp', 'http'];

export interface HealthCheckSpec {
  readonly kind: HealthCheckKind;
  /** The port probed on every endpoint; absent: the endpoint's port of the first TCP Service port. */
  readonly port?: number;
  /** HTTP only. */
  readonly path?: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly failureThreshold: number;
  readonly successThreshold: number;
}

export const HEALTH_CHECK_DEFAULTS = { intervalMs: 1000, timeoutMs: 1000, failureThreshold: 3, successThreshold: 2 } as const;
const MIN_INTERVAL_MS = 100;
const MAX_DURATION_MS = 300_000;
const MAX_THRESHOLD = 100;

/** One endpoint address to probe for a Service, on the port the check names. */
export interface ProbeTarget {
  readonly ip: Ip;
  readonly port: number;
}

/** What the prober needs for one Service: its check and this node's ready endpoints. */
export interface ServiceProbes {
  readonly spec: HealthCheckSpec;
  /** By address text; only endpoints Kubernetes marks ready, only those this node uses. */
  readonly targets: ReadonlyMap<string, ProbeTarget>;
}

/**
 * Check results as an input of the desired state: per Service, the endpoint addresses held
 * down by failed checks. A Service absent here (or without a check) has none held down.
 */
export type HealthState = ReadonlyMap<ServiceKey, ReadonlySet<string>>;

export interface AnnotationProblem { readonly field: string; readonly message: string }

const field = (a: string): string => `metadata.annotations[${a}]`;

function parseCheck(text: string): { kind: HealthCheckKind; port?: number; path?: string } | string {
  const m = /^(tcp|http)(?::(.*))?$/.exec(text);
  if (m === null) return `"${text}" is not tcp, tcp:<port>, http:<path> or http:<port><path>`;
  const kind = m[1] as HealthCheckKind;
  const rest = m[2];
  if (kind === 'tcp') {
    if (rest === undefined) return { kind };
    const port = /^\d{1,5}$/.test(rest) ? Number(rest) : NaN;
    return port >= 1 && port <= 65535 ? { kind, port } : `"${text}": "${rest}" is not a port number in [1, 65535]`;
  }
  const h = /^(\d{1,5})?(\/[\x21-\x7e]*)$/.exec(rest ?? '');
  if (h === null) return `"${text}": http needs a path starting with "/" (optionally after a port: http:8081/healthz), printable ASCII without spaces`;
  const path = h[2] ?? '/';
  if (h[1] === undefined) return { kind, path };
  const port = Number(h[1]);
  return port >= 1 && port <= 65535 ? { kind, port, path } : `"${text}": ${h[1]} is not a port number in [1, 65535]`;
}

function durationOf(annotations: Readonly<Record<string, string>>, key: string, fallback: number, min: number, problems: AnnotationProblem[]): number {
  const text = annotations[key]?.trim();
  if (text === undefined || text === '') return fallback;
  const ms = parseDuration(text);
  if (ms === undefined || ms < min || ms > MAX_DURATION_MS) {
    problems.push({ field: field(key), message: `"${text}" is not a duration in [${min}ms, 5m] (Go syntax: 500ms, 2s)` });
    return fallback;
  }
  return ms;
}

function thresholdOf(annotations: Readonly<Record<string, string>>, key: string, fallback: number, problems: AnnotationProblem[]): number {
  const text = annotations[key]?.trim();
  if (text === undefined || text === '') return fallback;
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= MAX_THRESHOLD)) {
    problems.push({ field: field(key), message: `"${text}" is not an integer in [1, ${MAX_THRESHOLD}]` });
    return fallback;
  }
  return n;
}

/**
 * The Service's health check, if it asks for one. Any invalid value: problems naming the
 * annotation and no check at all (a half-understood check could hold endpoints down wrongly).
 * `hasTcpPort`: whether the Service has a TCP port a check without its own port can use.
 */
export function parseHealthCheck(
  annotations: Readonly<Record<string, string>> | undefined, hasTcpPort: boolean,
): { readonly spec?: HealthCheckSpec; readonly problems: readonly AnnotationProblem[] } {
  const a = annotations ?? {};
  const A = HEALTH_CHECK_ANNOTATIONS;
  const text = a[A.check]?.trim();
  const problems: AnnotationProblem[] = [];
  if (text === undefined || text === '') {
    const stray = [A.interval, A.timeout, A.failureThreshold, A.successThreshold].filter((k) => a[k] !== undefined);
    for (const k of stray) problems.push({ field: field(k), message: `ignored: ${A.check} is not set` });
    return { problems };
  }
  const check = parseCheck(text);
  if (typeof check === 'string') problems.push({ field: field(A.check), message: check });
  else if (check.port === undefined && !hasTcpPort) {
    problems.push({ field: field(A.check), message: `"${text}" names no port and the Service has no TCP port to probe; give one (${check.kind}:<port>…)` });
  }
  const D = HEALTH_CHECK_DEFAULTS;
  const intervalMs = durationOf(a, A.interval, D.intervalMs, MIN_INTERVAL_MS, problems);
  const timeoutMs = durationOf(a, A.timeout, D.timeoutMs, 1, problems);
  const failureThreshold = thresholdOf(a, A.failureThreshold, D.failureThreshold, problems);
  const successThreshold = thresholdOf(a, A.successThreshold, D.successThreshold, problems);
  if (problems.length > 0 || typeof check === 'string') {
    return { problems: problems.map((p) => ({ ...p, message: `${p.message}; no health checks for this Service` })) };
  }
  return { spec: { ...check, intervalMs, timeoutMs, failureThreshold, successThreshold }, problems };
}

/**
 * Weights of one endpoint list (the real servers of one virtual server) with some addresses
 * held down: 0 for those, 1 for the rest. Fails open: when every endpoint of the list is held
 * down, all keep weight 1 — the prober's view (one node, one network path) must not turn a
 * partial outage into a total one while Kubernetes still calls them ready (as Envoy's
 * max_ejection_percent / panic threshold).
 */
export function checkedWeights(ips: readonly Ip[], down: ReadonlySet<string> | undefined): readonly number[] {
  const weights = ips.map((ip) => (down?.has(ip.text) === true ? 0 : 1));
  return weights.includes(1) ? weights : ips.map(() => 1);
}

/**
 * Endpoints at weight 0 in a desired state: only health checks put them there (draining is
 * the dataplane's, never desired). One per Service and address, however many virtual servers.
 */
export function heldDownCount(vss: Iterable<VirtualServer>): number {
  const seen = new Set<string>();
  for (const vs of vss) {
    for (const rs of vs.realServers) if (rs.weight === 0) seen.add(`${vs.service.namespace}/${vs.service.name} ${rs.ip.text}`);
  }
  return seen.size;
}
