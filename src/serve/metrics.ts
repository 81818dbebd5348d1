// kube-proxy's metrics, same names, types, labels and buckets (pkg/proxy/metrics/metrics.go,
// with the ip_family label kube-proxy 1.33 added), so dashboards and alerts keep working, plus
// kube-ipvs' own. One Registry per daemon (never prom-client's global one) so tests and
// embedders get independent instances.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, exponentialBuckets, linearBuckets } from 'prom-client';
import type { IpFamilyName } from './proxy-health.ts';
import { ServiceTrafficTracker } from './service-traffic.ts';
import { registerBuildInfo } from './build-info.ts';

/** How often the event-loop lag (nodejs_eventloop_lag_*) is sampled, in ms. */
export const EVENT_LOOP_SAMPLE_MS = 100;

/** 1 ms × 2^0..14 (kube-proxy's sync duration buckets). */
export const SYNC_BUCKETS = exponentialBuckets(0.001, 2, 15);
/** component-base MergeBuckets starts with a 0 bucket; then 0.25 s steps, 1 s, 5 s, 30 s up to 5 min. */
export const NETWORK_PROGRAMMING_BUCKETS = [0, ...linearBuckets(0.25, 0.25, 2), ...linearBuckets(1, 1, 59), ...linearBuckets(60, 5, 12), ...linearBuckets(120, 30, 7)];
export const SYNC_PROCESS_BUCKETS = [1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50, 100];

const SVC = ['namespace', 'service', 'port'] as const;

export interface MetricsOptions {
  readonly defaultMetrics?: boolean;
  /**
   * Per-Service traffic series (kubeipvs_service_*): 5 series per Service port, ~0.5 KB of
   * /metrics — ~5 MB at 10,000 Services, on every node's every scrape (and an `ipvsadm --stats`
   * read per sync period). Off unless asked for (--metrics-per-service, metricsPerService).
   */
  readonly perService?: boolean;
}

export function createMetrics(o: MetricsOptions = {}) {
  const registry = new Registry();
  const registers = [registry];
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) => new Counter<L>({ name, help, labelNames, registers });
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) => new Gauge<L>({ name, help, labelNames, registers });
  const histogram = <L extends string>(name: string, help: string, buckets: number[], labelNames: readonly L[] = []) =>
    new Histogram<L>({ name, help, buckets, labelNames, registers });
  const traffic = new ServiceTrafficTracker();
  const m = {
    registry,
    traffic,
    syncDuration: histogram('kubeproxy_sync_proxy_rules_duration_seconds', 'SyncProxyRules latency in seconds', SYNC_BUCKETS, ['ip_family']),
    syncFullDuration: histogram('kubeproxy_sync_full_proxy_rules_duration_seconds', 'SyncProxyRules latency in seconds for full resyncs', SYNC_BUCKETS, ['ip_family']),
    syncPartialDuration: histogram('kubeproxy_sync_partial_proxy_rules_duration_seconds', 'SyncProxyRules latency in seconds for partial resyncs', SYNC_BUCKETS, ['ip_family']),
    lastTimestamp: gauge('kubeproxy_sync_proxy_rules_last_timestamp_seconds', 'The last time proxy rules were successfully synced', ['ip_family']),
    lastQueuedTimestamp: gauge('kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds', 'The last time a sync of proxy rules was queued', ['ip_family']),
    networkProgramming: histogram('kubeproxy_network_programming_duration_seconds', 'In Cluster Network Programming Latency in seconds', NETWORK_PROGRAMMING_BUCKETS, ['ip_family']),
    endpointChangesPending: gauge('kubeproxy_sync_proxy_rules_endpoint_changes_pending', 'Pending proxy rules Endpoint changes'),
    endpointChangesTotal: counter('kubeproxy_sync_proxy_rules_endpoint_changes_total', 'Cumulative proxy rules Endpoint changes'),
    serviceChangesPending: gauge('kubeproxy_sync_proxy_rules_service_changes_pending', 'Pending proxy rules Service changes'),
    serviceChangesTotal: counter('kubeproxy_sync_proxy_rules_service_changes_total', 'Cumulative proxy rules Service changes'),
    iptablesRestoreFailures: counter('kubeproxy_sync_proxy_rules_iptables_restore_failures_total', 'Cumulative proxy iptables restore failures', ['ip_family']),
    noLocalEndpoints: gauge('kubeproxy_sync_proxy_rules_no_local_endpoints_total', 'Number of services with a Local traffic policy and no endpoints', ['ip_family', 'traffic_policy']),
    healthzTotal: counter('kubeproxy_proxy_healthz_total', 'Cumulative proxy healthz HTTP status', ['code']),
    livezTotal: counter('kubeproxy_proxy_livez_total', 'Cumulative proxy livez HTTP status', ['code']),
    driftRepairs: counter('kubeipvs_drift_repairs_total', 'Kernel changes a full resync needed although the last applied state did not (drift repaired)'),
    syncProcesses: histogram('kubeipvs_sync_processes', 'Processes spawned per sync', SYNC_PROCESS_BUCKETS),
    batchFailures: counter<'tool'>('kubeipvs_batch_failures_total', 'Batches (one process of a tool: ipvsadm, ipset, iptables, ip6tables, ip, conntrack) that failed or applied only partly', ['tool']),
    syncs: counter('kubeipvs_syncs_total', 'Syncs by kind (full reads the kernel, incremental trusts the last applied state) and result', ['kind', 'result']),
  };
  if (o.perService === true) serviceTraffic(registers, traffic);
  // The event-loop lag histogram samples with a timer: prom-client's default of every 10 ms cost
  // an idle daemon ~0.35 s of CPU per minute (of an idle budget of 0.5 s, issue #12); every
  // 100 ms costs ~0.07 s and still catches the stalls that matter (a sync of tens of ms or more).
  if (o.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  registerBuildInfo(registry);
  return m;
}

function serviceTraffic(registers: Registry[], traffic: ServiceTrafficTracker): void {
  // Filled from the tracker at scrape time: reset() first, so Services gone since the last
  // reading lose their series instead of keeping a stale value.
  const fromTracker = (name: string, help: string, labels: readonly string[], values: (t: ServiceTrafficTracker) => [Record<string, string>, number][]) =>
    new Counter({ name, help, labelNames: labels, registers, collect(this: Counter) {
      this.reset();
      for (const [l, v] of values(traffic)) this.inc(l, v);
    } });
  const rows = (pick: (r: ReturnType<ServiceTrafficTracker['rows']>[number]) => [Record<string, string>, number][]) => (t: ServiceTrafficTracker) => t.rows().flatMap(pick);
  const svc = (r: { ref: { namespace: string; name: string; port: string } }) => ({ namespace: r.ref.namespace, service: r.ref.name, port: r.ref.port });
  fromTracker('kubeipvs_service_connections_total', 'Connections scheduled to a Service port (all its virtual servers), from the IPVS counters', SVC,
    rows((r) => [[svc(r), r.traffic.conns]]));
  fromTracker('kubeipvs_service_packets_total', 'Packets of a Service port by direction (in: client to real server), from the IPVS counters', [...SVC, 'direction'],
    rows((r) => [[{ ...svc(r), direction: 'in' }, r.traffic.inPkts], [{ ...svc(r), direction: 'out' }, r.traffic.outPkts]]));
  fromTracker('kubeipvs_service_bytes_total', 'Bytes of a Service port by direction (in: client to real server), from the IPVS counters', [...SVC, 'direction'],
    rows((r) => [[{ ...svc(r), direction: 'in' }, r.traffic.inBytes], [{ ...svc(r), direction: 'out' }, r.traffic.outBytes]]));
}

export type ProxyMetrics = ReturnType<typeof createMetrics>;

export interface SyncRecord {
  readonly families: readonly IpFamilyName[];
  readonly kind: 'full' | 'incremental';
  readonly ok: boolean;
  readonly seconds: number;
  /** Epoch ms when the sync ended (last_timestamp). */
  readonly endedAtMs: number;
  readonly processes?: number;
  readonly repairs?: number;
  /** Epoch ms of the EndpointSlices' last-change-trigger-time annotations this sync applied. */
  readonly triggerTimesMs?: readonly number[];
  readonly noLocalEndpoints?: { readonly internal: number; readonly external: number };
}

/**
 * One sync, as kube-proxy records it: duration always; last timestamp, network programming
 * latency and no-local-endpoint counts only when it succeeded.
 */
export function recordSync(m: ProxyMetrics, r: SyncRecord): void {
  m.syncs.inc({ kind: r.kind, result: r.ok ? 'success' : 'error' });
  if (r.processes !== undefined) m.syncProcesses.observe(r.processes);
  if (r.repairs !== undefined && r.repairs > 0) m.driftRepairs.inc(r.repairs);
  for (const ip_family of r.families) {
    m.syncDuration.observe({ ip_family }, r.seconds);
    (r.kind === 'full' ? m.syncFullDuration : m.syncPartialDuration).observe({ ip_family }, r.seconds);
    if (!r.ok) continue;
    m.lastTimestamp.set({ ip_family }, r.endedAtMs / 1000);
    // As kube-proxy, a trigger time ahead of our clock (skew) is observed too: it lands in the 0 bucket.
    for (const t of r.triggerTimesMs ?? []) m.networkProgramming.observe({ ip_family }, (r.endedAtMs - t) / 1000);
    if (r.noLocalEndpoints === undefined) continue;
    m.noLocalEndpoints.set({ ip_family, traffic_policy: 'internal' }, r.noLocalEndpoints.internal);
    m.noLocalEndpoints.set({ ip_family, traffic_policy: 'external' }, r.noLocalEndpoints.external);
  }
}

/** A change was queued for sync (kube-proxy sets this with ProxyHealth.queued()). */
export function recordQueued(m: ProxyMetrics, families: readonly IpFamilyName[], nowMs: number): void {
  for (const ip_family of families) m.lastQueuedTimestamp.set({ ip_family }, nowMs / 1000);
}

/** Replaces the per-Service traffic series from `readStats()` and the applied virtual servers. */
export function recordServiceTraffic(m: ProxyMetrics, ...a: Parameters<ServiceTrafficTracker['update']>): void {
  m.traffic.update(...a);
}

export { startMetricsServer } from './metrics-server.ts';
