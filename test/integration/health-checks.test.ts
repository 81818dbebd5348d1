// The real `kube-ipvs` process (fake kernel, test API server) probing real local servers: an
// endpoint whose server does not answer is taken out of rotation — what an operator sees is
// the log line and the metrics — and comes back once its server answers. Twice: with
// kube-ipvs-prober (the daemon's TCP prober: SYN probes), and with a prober path that does not
// exist (the daemon says so once and probes in-process); the prober metric says which.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { endpointSlice, node, service } from '../support/apiserver/builders.ts';
import { waitUntil } from '../support/apiserver/client.ts';
import { start } from '../support/apiserver/index.ts';
import { tracked } from '../support/child.ts';
import { freePort } from '../support/ports.ts';
import { PROBER_PATH } from '../../src/observe/native-prober.ts';

const main = join(import.meta.dirname, '..', 'support', 'fake-kernel-main.ts');

async function listen(host: string, port: number): Promise<Server> {
  const s = createServer((c) => { c.on('error', () => undefined); c.end(); });
  await new Promise<void>((resolve, reject) => { s.once('error', reject); s.listen(port, host, resolve); });
  return s;
}

for (const prober of ['native', 'in-process'] as const) {
test(`an endpoint that stops answering is held at weight 0 (log line, metrics) and comes back when it answers (${prober} prober)`, async (t) => {
  const api = await start();
  t.after(() => api.stop());
  const [healthz, metrics, backend] = [await freePort(), await freePort(), await freePort()];
  const up = await listen('127.0.0.7', backend);
  const servers: Server[] = [up];
  t.after(() => { for (const s of servers) s.close(); });
  api.create(node('node-a'));
  const svc = service('default', 'web', {}, '10.96.0.10');
  api.create({ ...svc, metadata: { ...svc.metadata, annotations: { 'ipvs.kube-ipvs.io/health-check': `tcp:${backend}`, 'ipvs.kube-ipvs.io/health-check-interval': '200ms' } } });
  // Both ready in the API; nothing listens on 127.0.0.8.
  api.create(endpointSlice('default', 'web-1', 'web', ['127.0.0.7', '127.0.0.8']));
  const proc = spawn(process.execPath, [main, '--kubeconfig', api.kubeconfigPath, '--hostname-override=node-a',
    '--healthz-bind-address', `127.0.0.1:${healthz}`, '--metrics-bind-address', `127.0.0.1:${metrics}`, '--ipvs-sync-period', '1m0s'],
  { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, KUBE_IPVS_PROBER: prober === 'native' ? PROBER_PATH : '/nonexistent/kube-ipvs-prober' } });
  tracked(t, proc);
  let logs = '';
  proc.stderr.on('data', (c: Buffer) => { logs += c.toString(); });
  const scrape = async (): Promise<string> => (await fetch(`http://127.0.0.1:${metrics}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
  const metric = (text: string, re: RegExp): number => Number(re.exec(text)?.[1] ?? NaN);
  const scrapeUntil = async (re: RegExp, what: string): Promise<string> => {
    for (const started = Date.now(); Date.now() - started < 10_000; await new Promise((r) => setTimeout(r, 100))) {
      const text = await scrape();
      if (re.test(text)) return text;
    }
    return assert.fail(`not within 10 s: ${what}`);
  };

  await waitUntil(() => logs.includes('out of rotation'), 'the silent endpoint out of rotation', 20_000);
  const line = logs.split('\n').find((l) => l.includes('out of rotation')) ?? '';
  assert.match(line, /endpoint 127\.0\.0\.8 of Service default\/web failed 3 checks in a row/);
  assert.doesNotMatch(logs, /127\.0\.0\.7 of Service default\/web failed/);
  const m = await scrapeUntil(/^kubeipvs_health_check_endpoints_down 1$/m, 'endpoints_down 1');
  assert.ok(metric(m, /^kubeipvs_health_checks_total\{result="failure"\} (\d+)$/m) >= 3, m.split('\n').filter((l) => l.includes('health')).join('\n'));
  assert.ok(metric(m, /^kubeipvs_health_checks_total\{result="success"\} (\d+)$/m) >= 1);
  assert.equal(metric(m, /^kubeipvs_health_check_out_of_rotation_seconds_count (\d+)$/m), 1);
  // Three failures 200 ms apart, then a sync: well under the 1 s bucket... on a loaded machine, under 5 s.
  assert.equal(metric(m, /^kubeipvs_health_check_out_of_rotation_seconds_bucket\{le="5"\} (\d+)$/m), 1);

  servers.push(await listen('127.0.0.8', backend));
  await waitUntil(() => logs.includes('back in rotation'), 'back in rotation', 20_000);
  assert.match(logs, /endpoint 127\.0\.0\.8 of Service default\/web passed 2 checks in a row; back in rotation/);
  const last = await scrapeUntil(/^kubeipvs_health_check_endpoints_down 0$/m, 'endpoints_down 0');
  const other = prober === 'native' ? 'in-process' : 'native';
  assert.equal(metric(last, new RegExp(`^kubeipvs_health_check_prober\\{prober="${prober}"\\} (\\d+)$`, 'm')), 1, `${prober} in use`);
  assert.equal(metric(last, new RegExp(`^kubeipvs_health_check_prober\\{prober="${other}"\\} (\\d+)$`, 'm')), 0);
  const said = logs.split('\n').filter((l) => l.includes('kube-ipvs-prober'));
  assert.equal(said.length, 1, said.join('\n'));
  assert.match(said[0]!, prober === 'native' ? /TCP probes by kube-ipvs-prober/ : /kube-ipvs-prober not found.*TCP probes run in-process/);
});
}
