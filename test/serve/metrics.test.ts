import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { parseStats, type Counters, type ServiceStats } from '../../src/tools/ipvsadm.ts';
import { virtualServerKey, type Protocol, type VirtualServer } from '../../src/compute/model/types.ts';
import { parseIp } from '../../src/compute/net/ip.ts';
import type { Listening } from '../../src/serve/listen.ts';
import { createMetrics, NETWORK_PROGRAMMING_BUCKETS, recordQueued, recordServiceTraffic, recordSync, startMetricsServer } from '../../src/serve/metrics.ts';
import { get } from './http.ts';

function vs(protocol: Protocol, addr: string, port: number, ns: string, name: string, portName: string): VirtualServer {
  const ip = parseIp(addr)!;
  return { key: virtualServerKey(protocol, ip, port), protocol, ip, port, scheduler: 'rr', schedulerFlags: [], realServers: [], kind: 'cluster-ip', service: { namespace: ns, name, port: portName } };
}
const byKey = (...v: VirtualServer[]): Map<string, VirtualServer> => new Map(v.map((x) => [x.key, x]));
const stat = (key: string, conns: number, pkts = conns * 10, bytes = conns * 1000): [string, ServiceStats] => {
  const stats: Counters = { conns, inPkts: pkts, outPkts: pkts + 1, inBytes: bytes, outBytes: bytes + 1 };
  return [key, { stats, realServers: [] }];
};

describe('metrics endpoint', () => {
  const m = createMetrics({ perService: true });
  let server: Listening;
  let base = '';
  before(async () => {
    server = await startMetricsServer('127.0.0.1:0', m.registry);
    base = `http://127.0.0.1:${server.address.port}`;
  });
  after(() => server.close());
  const scrape = async (): Promise<string> => {
    const r = await get(`${base}/metrics`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    return r.body;
  };

  test('kube-proxy names and types, kube-ipvs own, process metrics', async () => {
    const text = await scrape();
    const types = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((x): [string, string] => [x[1]!, x[2]!]));
    const expected: Record<string, string> = {
      kubeproxy_sync_proxy_rules_duration_seconds: 'histogram', kubeproxy_sync_full_proxy_rules_duration_seconds: 'histogram',
      kubeproxy_sync_partial_proxy_rules_duration_seconds: 'histogram', kubeproxy_sync_proxy_rules_last_timestamp_seconds: 'gauge',
      kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds: 'gauge', kubeproxy_network_programming_duration_seconds: 'histogram',
      kubeproxy_sync_proxy_rules_endpoint_changes_pending: 'gauge', kubeproxy_sync_proxy_rules_endpoint_changes_total: 'counter',
      kubeproxy_sync_proxy_rules_service_changes_pending: 'gauge', kubeproxy_sync_proxy_rules_service_changes_total: 'counter',
      kubeproxy_sync_proxy_rules_iptables_restore_failures_total: 'counter', kubeproxy_sync_proxy_rules_no_local_endpoints_total: 'gauge',
      kubeproxy_proxy_healthz_total: 'counter', kubeproxy_proxy_livez_total: 'counter',
      kubeipvs_drift_repairs_total: 'counter', kubeipvs_sync_processes: 'histogram', kubeipvs_batch_failures_total: 'counter',
      kubeipvs_syncs_total: 'counter', kubeipvs_service_connections_total: 'counter', kubeipvs_service_packets_total: 'counter',
      kubeipvs_service_bytes_total: 'counter', process_cpu_seconds_total: 'counter', process_start_time_seconds: 'gauge',
    };
    for (const [name, type] of Object.entries(expected)) assert.equal(types.get(name), type, name);
  });

  test('buckets: sync 1 ms × 2^0..14; network programming as component-base merges them (leading 0)', async () => {
    recordQueued(m, ['IPv4'], 1_700_000_000_000);
    recordSync(m, { families: ['IPv4'], kind: 'full', ok: true, seconds: 0.003, endedAtMs: 1_700_000_001_500, processes: 4, repairs: 2,
      triggerTimesMs: [1_700_000_000_000], noLocalEndpoints: { internal: 1, external: 0 } });
    const text = await scrape();
    const les = (name: string): string[] => [...text.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)",ip_family="IPv4"\\}`, 'gm'))].map((x) => x[1]!);
    assert.deepEqual(les('kubeproxy_sync_proxy_rules_duration_seconds'),
      ['0.001', '0.002', '0.004', '0.008', '0.016', '0.032', '0.064', '0.128', '0.256', '0.512', '1.024', '2.048', '4.096', '8.192', '16.384', '+Inf']);
    const np = les('kubeproxy_network_programming_duration_seconds');
    assert.equal(np.length, 82);
    assert.deepEqual([np.slice(0, 5), np.slice(-3)], [['0', '0.25', '0.5', '1', '2'], ['270', '300', '+Inf']]);
    assert.equal(NETWORK_PROGRAMMING_BUCKETS.length, 81);
    assert.match(text, /^kubeproxy_network_programming_duration_seconds_bucket\{le="1",ip_family="IPv4"\} 0$/m);
    assert.match(text, /^kubeproxy_network_programming_duration_seconds_bucket\{le="2",ip_family="IPv4"\} 1$/m);
    assert.match(text, /^kubeproxy_sync_proxy_rules_last_timestamp_seconds\{ip_family="IPv4"\} 1700000001\.5$/m);
    assert.match(text, /^kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds\{ip_family="IPv4"\} 1700000000$/m);
    assert.match(text, /^kubeproxy_sync_proxy_rules_no_local_endpoints_total\{ip_family="IPv4",traffic_policy="internal"\} 1$/m);
    assert.match(text, /^kubeipvs_syncs_total\{kind="full",result="success"\} 1$/m);
    assert.match(text, /^kubeipvs_drift_repairs_total 2$/m);
    assert.match(text, /^kubeipvs_sync_processes_bucket\{le="4"\} 1$/m);
  });

  test('a failed sync counts and times, but sets no last timestamp', () => {
    const before = m.lastTimestamp.get();
    recordSync(m, { families: ['IPv4'], kind: 'incremental', ok: false, seconds: 0.5, endedAtMs: 1_800_000_000_000 });
    return Promise.all([before, m.lastTimestamp.get(), m.syncs.get()]).then(([b, a, syncs]) => {
      assert.deepEqual(a.values, b.values);
      assert.ok(syncs.values.some((v) => v.labels.kind === 'incremental' && v.labels.result === 'error' && v.value === 1));
    });
  });

  test('/proxyMode and /healthz as kube-proxy; 404 elsewhere', async () => {
    assert.equal((await get(`${base}/proxyMode`)).body, 'ipvs');
    assert.equal((await get(`${base}/healthz`)).body, 'ok');
    assert.equal((await get(`${base}/nope`)).status, 404);
  });

  test('per-Service traffic from the real ipvsadm output, labelled by namespace/service/port', async () => {
    const stats = parseStats(readFileSync(new URL('../fixtures/tools/ipvsadm-Ln-stats-exact.txt', import.meta.url), 'utf8'));
    recordServiceTraffic(m, stats, byKey(vs('TCP', '10.96.0.10', 80, 'default', 'web', 'http'), vs('UDP', '10.96.0.10', 53, 'kube-system', 'dns', '')));
    const text = await scrape();
    assert.match(text, /^kubeipvs_service_connections_total\{namespace="default",service="web",port="http"\} 3$/m);
    assert.match(text, /^kubeipvs_service_packets_total\{namespace="default",service="web",port="http",direction="in"\} 18$/m);
    assert.match(text, /^kubeipvs_service_bytes_total\{namespace="default",service="web",port="http",direction="out"\} 1593$/m);
    assert.match(text, /^kubeipvs_service_connections_total\{namespace="kube-system",service="dns",port=""\} 0$/m);
  });
});

describe('per-Service traffic counters', () => {
  const m = createMetrics({ defaultMetrics: false, perService: true });
  const conns = async (): Promise<Record<string, number>> =>
    Object.fromEntries((await m.registry.getSingleMetric('kubeipvs_service_connections_total')!.get()).values.map((v) => [`${v.labels.namespace}/${v.labels.service}`, v.value]));
  const cip = vs('TCP', '10.96.0.10', 80, 'ns', 'web', 'http');
  const np = vs('TCP', '192.168.1.5', 30080, 'ns', 'web', 'http');
  const other = vs('TCP', '10.96.0.11', 80, 'ns', 'api', 'http');

  test('sums a Service port over its virtual servers and never decreases when one is re-created', async () => {
    recordServiceTraffic(m, new Map([stat(cip.key, 10), stat(np.key, 5), stat(other.key, 1)]), byKey(cip, np, other));
    assert.deepEqual(await conns(), { 'ns/web': 15, 'ns/api': 1 });
    // The NodePort VS was re-created: the kernel restarted it from 0, then it saw 2 connections.
    recordServiceTraffic(m, new Map([stat(cip.key, 12), stat(np.key, 2), stat(other.key, 1)]), byKey(cip, np, other));
    assert.deepEqual(await conns(), { 'ns/web': 19, 'ns/api': 1 });
    // Gone from the kernel for a while, then back: its count is new traffic.
    recordServiceTraffic(m, new Map([stat(cip.key, 12), stat(other.key, 1)]), byKey(cip, np, other));
    recordServiceTraffic(m, new Map([stat(cip.key, 12), stat(np.key, 1), stat(other.key, 1)]), byKey(cip, np, other));
    assert.deepEqual(await conns(), { 'ns/web': 20, 'ns/api': 1 });
  });

  test('a Service that disappears loses its series; foreign virtual servers are ignored', async () => {
    recordServiceTraffic(m, new Map([stat(cip.key, 12), stat(np.key, 1), stat(other.key, 1), stat('TCP/10.0.0.1:22', 99)]), byKey(cip, np));
    assert.deepEqual(await conns(), { 'ns/web': 20 });
    recordServiceTraffic(m, new Map(), new Map());
    assert.deepEqual(await conns(), {});
  });
});

describe('/metrics size at 10,000 Services', () => {
  // 10,000 Services, each with a ClusterIP and a NodePort virtual server, all with traffic.
  const servers = Array.from({ length: 10_000 }, (_, i) => [
    vs('TCP', `10.96.${i >> 8}.${i & 255}`, 80, `ns${i % 50}`, `svc${i}`, 'http'),
    vs('TCP', '192.168.1.10', 30000 + i, `ns${i % 50}`, `svc${i}`, 'http'),
  ]).flat();
  const stats = new Map(servers.map((v, i) => stat(v.key, i + 1)));
  const size = async (o: Parameters<typeof createMetrics>[0]): Promise<{ bytes: number; text: string }> => {
    const m = createMetrics(o);
    recordServiceTraffic(m, stats, byKey(...servers));
    recordSync(m, { families: ['IPv4', 'IPv6'], kind: 'full', ok: true, seconds: 0.5, endedAtMs: Date.now(), processes: 9, repairs: 0, triggerTimesMs: [Date.now() - 100] });
    const text = await m.registry.metrics();
    return { bytes: Buffer.byteLength(text), text };
  };

  test('by default: at most 200 KB, no per-Service series', async () => {
    const { bytes, text } = await size({});
    assert.ok(bytes <= 200_000, `${bytes} bytes`);
    assert.doesNotMatch(text, /^kubeipvs_service_/m);
  });

  test('--metrics-per-service: 5 series per Service port (the cost stated in the README)', async () => {
    const { bytes, text } = await size({ perService: true });
    assert.equal(text.match(/^kubeipvs_service_\w+\{/gm)?.length, 50_000);
    assert.ok(bytes > 10_000 * 5 * 80, `${bytes} bytes`);
  });
});

test('Node default metrics are on by default, the event-loop lag among them (sampled every 100 ms)', async () => {
  const m = createMetrics();
  await new Promise((r) => setTimeout(r, 250));
  const text = await m.registry.metrics();
  assert.match(text, /^nodejs_eventloop_lag_p99_seconds \S+$/m);
  assert.match(text, /^process_resident_memory_bytes \S+$/m);
  m.registry.clear();
});
