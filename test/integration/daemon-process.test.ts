// The real `kube-ipvs` process as a user runs it — run() with its flags, health and metrics
// servers, signals and exit code — against the test API server, with the node's kernel
// replaced by the fake one (test/support/fake-kernel-main.ts) so this host is never changed.
// Each test observes what an operator would: exit code, logs, /healthz, /readyz, who listens.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { join } from 'node:path';
import { seedWeb } from '../support/apiserver/builders.ts';
import { waitUntil } from '../support/apiserver/client.ts';
import { start, type TestApiServer } from '../support/apiserver/index.ts';
import { tracked, type Child } from '../support/child.ts';
import { freePort } from '../support/ports.ts';

const main = join(import.meta.dirname, '..', 'support', 'fake-kernel-main.ts');

interface Proc extends Child<ChildProcessByStdio<null, null, Readable>> { logs: () => string }

/** The daemon, stopped when test `t` ends (passed or failed). */
function daemon(t: TestContext, api: TestApiServer, ports: { healthz: number; metrics: number }, extra: readonly string[] = [], env: NodeJS.ProcessEnv = {}): Proc {
  const proc = spawn(process.execPath, [main, '--proxy-mode=ipvs', '--kubeconfig', api.kubeconfigPath, '--hostname-override=node-a',
    '--healthz-bind-address', `127.0.0.1:${ports.healthz}`, '--metrics-bind-address', `127.0.0.1:${ports.metrics}`, '--ipvs-sync-period', '1m0s', ...extra],
  { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  const child = tracked(t, proc);
  let logs = '';
  proc.stderr.on('data', (c: Buffer) => { logs += c.toString(); });
  return { ...child, logs: () => logs };
}

/** HTTP status, or the connection error code (ECONNREFUSED when nothing listens). */
async function status(url: string): Promise<number | string> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(2000) })).status;
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause;
    return cause?.code ?? String(e);
  }
}

const ports = async (): Promise<{ healthz: number; metrics: number }> => ({ healthz: await freePort(), metrics: await freePort() });

test('the daemon starts against an API server, serves health and metrics, and exits 0 on SIGTERM', async (t) => {
  const api = await start();
  const port = await ports();
  const d = daemon(t, api, port, ['--dry-run']);
  try {
    seedWeb(api);
    await waitUntil(() => d.logs().includes('first sync done'), 'first sync', 20_000);
    assert.ok(api.requests('watch', '/api/v1/services') > 0 && api.requests('watch', '/apis/discovery.k8s.io/v1/endpointslices') > 0, 'watching');
    const h = await fetch(`http://127.0.0.1:${port.healthz}/healthz`);
    assert.equal(h.status, 200);
    const body = await h.json() as { nodeEligible: boolean };
    assert.equal(body.nodeEligible, true);
    const m = await (await fetch(`http://127.0.0.1:${port.metrics}/metrics`)).text();
    assert.match(m, /^# TYPE kubeproxy_sync_proxy_rules_duration_seconds histogram$/m);
    assert.match(m, /^kubeipvs_syncs_total\{kind="full",result="success"\} 1$/m);
    assert.doesNotMatch(m, /^kubeipvs_syncs_total\{kind="full",result="error"\} [1-9]/m);
    assert.match(m, /^# TYPE kubeipvs_dry_run_changes gauge$/m);
    // Every Service and EndpointSlice event counts, as in kube-proxy (seedWeb made one of each).
    assert.match(m, /^kubeproxy_sync_proxy_rules_service_changes_total [1-9]/m);
    assert.match(m, /^kubeproxy_sync_proxy_rules_endpoint_changes_total [1-9]/m);
    const line = d.logs().split('\n').find((l) => l.includes('"msg":"starting"'));
    assert.ok(line !== undefined && (JSON.parse(line) as { dryRun?: boolean }).dryRun === true, 'structured JSON logs');
    d.proc.kill('SIGTERM');
    assert.equal(await d.exit(15_000, 'the daemon after SIGTERM'), 0);
    assert.match(d.logs(), /kernel state left in place/);
  } finally {
    await d.stop();
    await api.stop();
  }
});

test('without ip_vs: exits 1 with one message saying what to do; nothing is left listening or watching', async (t) => {
  const api = await start();
  const port = await ports();
  seedWeb(api);
  const d = daemon(t, api, port, [], { KUBE_IPVS_FAKE_NO_IP_VS: '1' });
  try {
    assert.equal(await d.exit(30_000, 'the daemon without ip_vs'), 1);
    const fatal = d.logs().split('\n').filter((l) => l.includes('"level":50'));
    assert.equal(fatal.length, 1, d.logs());
    const msg = (JSON.parse(fatal[0] ?? '{}') as { msg?: string }).msg ?? '';
    assert.match(msg, /^cannot start: kernel settings: \/proc\/sys\/net\/ipv4\/vs\/conntrack does not exist/);
    assert.match(msg, /modprobe ip_vs/);
    assert.equal(await status(`http://127.0.0.1:${port.healthz}/healthz`), 'ECONNREFUSED');
    assert.equal(await status(`http://127.0.0.1:${port.metrics}/metrics`), 'ECONNREFUSED');
    assert.equal(api.openWatches, 0, 'no informer left watching');
  } finally {
    await d.stop();
    await api.stop();
  }
});

test('/healthz and /readyz are 503 until the first sync is applied; /livez is 200 meanwhile', async (t) => {
  const api = await start();
  const port = await ports();
  seedWeb(api);
  api.pause(); // the informers' lists wait: no sync can happen yet
  const d = daemon(t, api, port);
  try {
    const base = `http://127.0.0.1:${port.healthz}`;
    await waitUntil(() => d.logs().includes('"msg":"starting"'), 'listening', 20_000);
    assert.equal(await status(`${base}/healthz`), 503);
    assert.equal(await status(`${base}/readyz`), 503);
    assert.equal(await status(`${base}/livez`), 200);
    api.resume();
    await waitUntil(() => d.logs().includes('first sync done'), 'first sync', 20_000);
    assert.equal(await status(`${base}/healthz`), 200);
    assert.equal(await status(`${base}/readyz`), 200);
  } finally {
    await d.stop();
    await api.stop();
  }
});

test('health port held by another process (kube-proxy during a migration): proxying goes on, the bind is retried, said once', async (t) => {
  const api = await start();
  const port = await ports();
  seedWeb(api);
  // The other process answers like kube-proxy's mux: /healthz and /livez 200, anything else 404.
  const holder = tracked(t, spawn(process.execPath, ['-e', `require('node:http').createServer((q, s) => {
      s.writeHead(['/healthz', '/livez'].includes(q.url) ? 200 : 404).end();
    }).listen(${port.healthz}, '127.0.0.1', () => console.log('holding'));`], { stdio: ['ignore', 'pipe', 'inherit'] }));
  let holding = false;
  holder.proc.stdout.once('data', () => { holding = true; });
  await waitUntil(() => holding || holder.proc.exitCode !== null, 'the port holder listening', 20_000);
  assert.ok(holding, 'the port holder listens');
  const d = daemon(t, api, port);
  try {
    const base = `http://127.0.0.1:${port.healthz}`;
    await waitUntil(() => d.logs().includes('first sync done'), 'first sync despite the busy port', 20_000);
    const m = await (await fetch(`http://127.0.0.1:${port.metrics}/metrics`)).text();
    assert.match(m, /^kubeipvs_syncs_total\{kind="full",result="success"\} 1$/m);
    // What the kubelet's probes see: liveness answered (not killed), readiness not.
    assert.equal(await status(`${base}/livez`), 200);
    assert.equal(await status(`${base}/readyz`), 404);
    await new Promise((r) => setTimeout(r, 2500)); // several bind retries
    assert.equal(d.logs().split('\n').filter((l) => l.includes('health port in use')).length, 1, 'said once');
    assert.equal(d.proc.exitCode, null, 'still running');
    await holder.stop();
    await waitUntil(() => d.logs().includes('health port free at last'), 'bound once free', 15_000);
    assert.equal(await status(`${base}/readyz`), 200);
    assert.equal(await status(`${base}/healthz`), 200);
    d.proc.kill('SIGTERM');
    assert.equal(await d.exit(15_000, 'the daemon after SIGTERM'), 0);
  } finally {
    await d.stop();
    await holder.stop();
    await api.stop();
  }
});
