// The real `kube-ipvs` process (fake kernel, test API server) probing real local servers: an
// endpoint whose server does not answer (TCP check) or answers 500 (HTTP check) is taken out of
// rotation — what an operator sees is the log line and the metrics — and comes back once its
// server answers. Twice: with kube-ipvs-prober (SYN probes, HTTP on kept-alive connections),
// and with a prober path that does not exist (the daemon says so once and probes in-process);
// the prober metric says which, and so does the owner of the HTTP check's connection (ss).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createServer as createHttpServer } from 'node:http';
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

/** An HTTP server answering /healthz with 500 while `failing()`, else 200. */
async function listenHttp(host: string, port: number, failing: () => boolean): Promise<Server> {
  const s = createHttpServer((req, res) => { res.statusCode = req.url === '/healthz' && !failing() ? 200 : 500; res.end(); });
  await new Promise<void>((resolve, reject) => { s.once('error', reject); s.listen(port, host, resolve); });
  return s;
}

// The helper's HTTP checks on both of its I/O paths: io_uring (the default here) and epoll.
for (const [prober, io] of [['native', 'io_uring'], ['native', 'epoll'], ['in-process', undefined]] as const) {
test(`an endpoint that stops answering is held at weight 0 (log line, metrics) and comes back when it answers (${prober} prober${io === undefined ? '' : `, ${io}`})`, async (t) => {
  const api = await start();
  t.after(() => api.stop());
  const [healthz, metrics, backend, web] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const up = await listen('127.0.0.7', backend);
  let failing = true;
  const servers: Server[] = [up, await listenHttp('127.0.0.7', web, () => false), await listenHttp('127.0.0.9', web, () => failing)];
  t.after(() => { for (const s of servers) { s.close(); if ('closeAllConnections' in s) (s as ReturnType<typeof createHttpServer>).closeAllConnections(); } });
  api.create(node('node-a'));
  const svc = service('default', 'web', {}, '10.96.0.10');
  api.create({ ...svc, metadata: { ...svc.metadata, annotations: { 'ipvs.kube-ipvs.io/health-check': `tcp:${backend}`, 'ipvs.kube-ipvs.io/health-check-interval': '200ms' } } });
  // Both ready in the API; nothing listens on 127.0.0.8.
  api.create(endpointSlice('default', 'web-1', 'web', ['127.0.0.7', '127.0.0.8']));
  // An HTTP check: 127.0.0.9 answers 500 until the TCP backend is back.
  const api2 = service('default', 'api', {}, '10.96.0.11');
  api.create({ ...api2, metadata: { ...api2.metadata, annotations: { 'ipvs.kube-ipvs.io/health-check': `http:${web}/healthz`, 'ipvs.kube-ipvs.io/health-check-interval': '200ms' } } });
  api.create(endpointSlice('default', 'api-1', 'api', ['127.0.0.7', '127.0.0.9']));
  const proc = spawn(process.execPath, [main, '--kubeconfig', api.kubeconfigPath, '--hostname-override=node-a',
    '--healthz-bind-address', `127.0.0.1:${healthz}`, '--metrics-bind-address', `127.0.0.1:${metrics}`, '--ipvs-sync-period', '1m0s'],
  { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, KUBE_IPVS_PROBER: prober === 'native' ? PROBER_PATH : '/nonexistent/kube-ipvs-prober', ...(io === undefined ? {} : { KUBE_IPVS_PROBER_IO: io }) } });
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

  await waitUntil(() => logs.split('\n').filter((l) => l.includes('out of rotation')).length === 2, 'the silent endpoint and the failing one out of rotation', 20_000);
  assert.match(logs, /endpoint 127\.0\.0\.8 of Service default\/web failed 3 checks in a row/);
  assert.match(logs, /endpoint 127\.0\.0\.9 of Service default\/api failed 3 checks in a row/);
  assert.doesNotMatch(logs, /127\.0\.0\.7 of Service default\/(web|api) failed/);
  const m = await scrapeUntil(/^kubeipvs_health_check_endpoints_down 2$/m, 'endpoints_down 2');
  assert.ok(metric(m, /^kubeipvs_health_checks_total\{result="failure"\} (\d+)$/m) >= 3, m.split('\n').filter((l) => l.includes('health')).join('\n'));
  assert.ok(metric(m, /^kubeipvs_health_checks_total\{result="success"\} (\d+)$/m) >= 1);
  assert.equal(metric(m, /^kubeipvs_health_check_out_of_rotation_seconds_count (\d+)$/m), 2);
  // Three failures 200 ms apart, then a sync: well under the 1 s bucket... on a loaded machine, under 5 s.
  assert.equal(metric(m, /^kubeipvs_health_check_out_of_rotation_seconds_bucket\{le="5"\} (\d+)$/m), 2);
  // Who holds the HTTP check's kept-alive connection to 127.0.0.7: the helper, or node.
  const owners = spawnSync('ss', ['-tnpH', 'state', 'established', 'dst', `127.0.0.7:${web}`], { encoding: 'utf8', timeout: 5000 }).stdout;
  assert.match(owners, /users:/, 'a kept-alive connection');
  if (prober === 'native') assert.match(owners, /"kube-ipvs-probe"/, owners);
  else assert.doesNotMatch(owners, /kube-ipvs-probe/, owners);

  servers.push(await listen('127.0.0.8', backend));
  failing = false;
  await waitUntil(() => logs.split('\n').filter((l) => l.includes('back in rotation')).length === 2, 'back in rotation', 20_000);
  assert.match(logs, /endpoint 127\.0\.0\.8 of Service default\/web passed 2 checks in a row; back in rotation/);
  assert.match(logs, /endpoint 127\.0\.0\.9 of Service default\/api passed 2 checks in a row; back in rotation/);
  const last = await scrapeUntil(/^kubeipvs_health_check_endpoints_down 0$/m, 'endpoints_down 0');
  const other = prober === 'native' ? 'in-process' : 'native';
  for (const kind of ['tcp', 'http']) {
    assert.equal(metric(last, new RegExp(`^kubeipvs_health_check_prober\\{kind="${kind}",prober="${prober}"\\} (\\d+)$`, 'm')), 1, `${prober} in use for ${kind}`);
    assert.equal(metric(last, new RegExp(`^kubeipvs_health_check_prober\\{kind="${kind}",prober="${other}"\\} (\\d+)$`, 'm')), 0);
  }
  const said = logs.split('\n').filter((l) => l.includes('kube-ipvs-prober'));
  assert.equal(said.length, 1, said.join('\n'));
  assert.match(said[0]!, prober === 'native' ? /TCP and HTTP probes by kube-ipvs-prober/ : /kube-ipvs-prober not found.*TCP and HTTP probes run in-process/);
  if (io !== undefined) assert.match(said[0]!, new RegExp(`"io":"${io}"`), 'the log line says which I/O the HTTP checks use');
});
}
