// The monitoring kube-ipvs ships (deploy/overlays/monitoring): the alert rules pass
// `promtool check rules`, and a real Prometheus scraping a running kube-ipvs loads them,
// evaluates every alert expression without error over metrics that exist, and returns data for
// every dashboard query — so no panel is empty and no metric name is misspelt. The daemon is
// the real process (--dry-run) against the test API server, its kernel tools the FakeKernel.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { TRIGGER_TIME_ANNOTATION } from '../../src/compute/k8s/objects.ts';
import { endpointSlice, seedWeb } from '../support/apiserver/builders.ts';
import { start, type TestApiServer } from '../support/apiserver/index.ts';
import { tracked } from '../support/child.ts';
import { freePort } from '../support/ports.ts';
import { DEPLOY, ROOT, kustomize, only } from './deploy-files.ts';
import { startFakeTools, type FakeTools } from './fake-tools.ts';
import { startPrometheus, tool, type RunningPrometheus } from './prometheus.ts';

const MONITORING = join(DEPLOY, 'overlays', 'monitoring');
interface Rule { alert?: string; record?: string; expr: string }
interface RulesFile { groups: { name: string; rules: Rule[] }[] }
interface Dashboard {
  panels: { title: string; targets: { expr: string }[] }[];
  templating: { list: { name: string; type: string; query: string }[] };
}

/** The PrometheusRule's spec, as rendered: a Prometheus rules file. */
const rulesFile = (): RulesFile => (only(kustomize(MONITORING), 'PrometheusRule') as { spec: RulesFile }).spec;
const dashboard = (): Dashboard => JSON.parse(readFileSync(join(MONITORING, 'kube-ipvs-dashboard.json'), 'utf8')) as Dashboard;
const alerts = (): Rule[] => rulesFile().groups.flatMap((g) => g.rules);
/** Metric names an expression reads. */
const metricNames = (expr: string): string[] => [...new Set(expr.match(/\b(?:kubeproxy|kubeipvs|process)_[a-z0-9_]+|\bup(?=\{)/g) ?? [])];
/** Grafana's variables as the dashboard is opened: the job kube-ipvs is scraped as, every instance. */
const grafana = (expr: string): string => expr.replaceAll('$__rate_interval', '1m').replaceAll('$job', 'kube-proxy').replaceAll('$instance', '.*');

function check(rules: unknown): { status: number | null; out: string } {
  const file = join(mkdtempSync(join(tmpdir(), 'kube-ipvs-rules-')), 'rules.yaml');
  writeFileSync(file, stringify(rules));
  const r = tool('promtool', ['check', 'rules', file]);
  return { status: r.status, out: r.stdout + r.stderr };
}

test('the alert rules pass promtool check rules (and a broken one would not)', () => {
  const ok = check(rulesFile());
  assert.equal(ok.status, 0, ok.out);
  assert.match(ok.out, new RegExp(`SUCCESS: ${alerts().length} rules found`));
  const broken = structuredClone(rulesFile());
  broken.groups[0]!.rules[0]!.expr = 'sum by (instance (up)';
  assert.notEqual(check(broken).status, 0);
});

test('the alerts and the dashboard cover what an operator watches', () => {
  const read = new Set([...alerts().map((r) => r.expr), ...dashboard().panels.flatMap((p) => p.targets.map((t) => t.expr))].flatMap(metricNames));
  for (const m of ['kubeproxy_sync_proxy_rules_duration_seconds_bucket', 'kubeipvs_syncs_total', 'kubeproxy_network_programming_duration_seconds_bucket',
    'kubeipvs_drift_repairs_total', 'kubeipvs_batch_failures_total', 'kubeproxy_sync_proxy_rules_endpoint_changes_pending',
    'kubeproxy_sync_proxy_rules_service_changes_pending', 'kubeproxy_proxy_healthz_total', 'kubeproxy_sync_proxy_rules_last_timestamp_seconds']) {
    assert.ok(read.has(m), `${m} is watched`);
  }
  assert.ok(dashboard().panels.some((p) => p.targets.some((t) => /sum by \(tool\)/.test(t.expr))), 'batch failures per tool');
});

// Every wait below is on a condition, bounded generously: on a loaded machine each fake tool
// call is a Node process start, and a sync a handful of them. A wait that times out says what
// it waited for, with the daemon's log.
const WAIT_MS = 90_000;

let api: TestApiServer | undefined;
let tools: FakeTools | undefined;
let prom: RunningPrometheus | undefined;
after(async () => {
  await prom?.stop();
  await tools?.close();
  await api?.stop();
});

test('a real Prometheus scraping a running kube-ipvs: every alert evaluates over existing metrics, every dashboard query returns data', { timeout: 400_000 }, async (t) => {
  api = await start();
  seedWeb(api);
  tools = await startFakeTools();
  // Someone else's KUBE-CLUSTER-IP of another type: the first sync fails on the ipset batch, as
  // on a node with a leftover set; removed below, the retry succeeds.
  tools.kernel.admin(['ipset', 'create', 'KUBE-CLUSTER-IP', 'hash:net']);
  const [healthz, metrics] = [await freePort(), await freePort()];
  // Prometheus first, so the daemon's first failures are seen as they happen (not after its
  // retries have backed off to 30 s while Prometheus was starting).
  prom = await startPrometheus('kube-proxy', [`127.0.0.1:${metrics}`], rulesFile());
  const daemon = tracked(t, spawn(process.execPath, [join(ROOT, 'src', 'cli', 'main.ts'), '--kubeconfig', api.kubeconfigPath, '--hostname-override=node-a', '--dry-run',
    '--healthz-bind-address', `127.0.0.1:${healthz}`, '--metrics-bind-address', `127.0.0.1:${metrics}`],
  { env: { ...process.env, ...tools.env }, stdio: ['ignore', 'ignore', 'pipe'] }));
  let logs = '';
  daemon.proc.stderr.on('data', (c: Buffer) => { logs += c.toString(); });
  const until = async (what: string, f: () => boolean | Promise<boolean>): Promise<void> => {
    const deadline = Date.now() + WAIT_MS;
    while (!(await f())) {
      assert.ok(Date.now() < deadline, `timed out after ${WAIT_MS} ms waiting for ${what}\n${logs}`);
      assert.equal(daemon.proc.exitCode, null, `the daemon exited while waiting for ${what}\n${logs}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  // The failed sync as the log reports it (a structured line naming the tool), not its wording.
  const failures = (): { msg: string; tool?: string; toolMessage?: string }[] => logs.split('\n').filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { level: number; msg: string; tool?: string; toolMessage?: string }).filter((l) => l.level === 50);
  await until('a sync failing on the conflicting ipset', () => failures().some((f) => f.tool === 'ipset'));
  const failed = failures().find((f) => f.tool === 'ipset');
  assert.match(failed?.msg ?? '', /^sync failed/);
  assert.match(failed?.toolMessage ?? '', /ipset KUBE-CLUSTER-IP exists as "hash:net/);
  tools.kernel.admin(['ipset', 'destroy', 'KUBE-CLUSTER-IP']);
  const metricsText = async (): Promise<string> => (await fetch(`http://127.0.0.1:${metrics}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  // The retry after the destroy comes within the backoff (at most 30 s).
  await until('a successful sync', async () => /^kubeipvs_syncs_total\{kind="full",result="success"\} [1-9]/m.test(await metricsText()));
  // An endpoint change with its trigger time: change counters and network programming latency.
  const slice = endpointSlice('default', 'web-1', 'web', ['10.244.1.5', '10.244.2.6']);
  api.update({ ...slice, metadata: { ...(slice.metadata as object), annotations: { [TRIGGER_TIME_ANNOTATION]: new Date().toISOString() } } });
  for (let i = 0; i < 3; i++) assert.equal((await fetch(`http://127.0.0.1:${healthz}/healthz`, { signal: AbortSignal.timeout(10_000) })).status, 200);
  const scraped = async (expr: string, n: number): Promise<boolean> => Number((await prom?.query(expr))?.[0]?.value[1] ?? 0) >= n;
  await until('the change scraped 3 times', () => scraped('count_over_time(kubeproxy_network_programming_duration_seconds_count[1m])', 3));
  await until('the batch failure scraped 3 times', () => scraped('count_over_time(kubeipvs_batch_failures_total{tool="ipset"}[1m])', 3));

  const p = prom;
  for (const panel of dashboard().panels) {
    for (const t of panel.targets) assert.ok((await p.query(grafana(t.expr))).length > 0, `panel "${panel.title}": no data for ${grafana(t.expr)}`);
  }
  for (const v of dashboard().templating.list.filter((x) => x.type === 'query')) {
    const m = /^label_values\((.+), (\w+)\)$/.exec(v.query);
    assert.ok(m !== null, `variable ${v.name}: ${v.query}`);
    const values = await p.query(`count by (${m[2]!}) (${grafana(m[1]!)})`);
    assert.ok(values.length > 0 && values.every((s) => s.metric[m[2]!] !== undefined), `variable ${v.name} has values`);
  }
  for (const r of alerts()) {
    await p.query(r.expr); // throws on an expression Prometheus rejects
    for (const name of metricNames(r.expr)) assert.ok((await p.query(`count({__name__="${name}"})`)).length > 0, `${r.alert ?? ''}: no series of ${name}`);
  }
  // The check above can fail: a misspelt name has no series.
  assert.deepEqual(await p.query('count({__name__="kubeipvs_sync_total"})'), []);
  await until('every rule evaluated', async () => (await p.rules()).every((r) => r.health !== 'unknown'));
  for (const r of await p.rules()) assert.equal(r.health, 'ok', `${r.name}: ${r.lastError ?? ''}`);
  assert.equal((await p.rules()).length, alerts().length, 'Prometheus loaded every rule');
});
