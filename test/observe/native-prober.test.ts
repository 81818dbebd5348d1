// The checker with kube-ipvs-prober (the real binary, `make native`) and real time, against real
// listeners on 127.0.0.x: the helper takes the TCP targets over (the listener never accepts a
// connection: SYN probes, not connects) and the HTTP ones (no in-process probe runs), thresholds
// still hold an endpoint down and bring it back; a helper that dies is restarted and takes
// nothing down meanwhile; a helper that is missing leaves the checks in-process and says so
// once; one refused raw sockets takes the HTTP checks only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createHttpServer } from 'node:http';
import { HEALTH_CHECK_DEFAULTS, type HealthCheckKind, type ServiceProbes } from '../../src/compute/model/health-check.ts';
import { parseIp, type Ip } from '../../src/compute/net/ip.ts';
import { silentLog, type Log } from '../../src/log.ts';
import { HealthChecker, type HealthTransition } from '../../src/observe/health-checker.ts';
import { probe as realProbe } from '../../src/observe/health-probe.ts';
import { NativeProber, PROBER_PATH } from '../../src/observe/native-prober.ts';
import { systemClock } from '../../src/sync/clock.ts';

const ip = (s: string): Ip => parseIp(s) ?? assert.fail(s);

interface Listener { server: Server; port: number; accepted: number }

async function listen(host: string, port = 0): Promise<Listener> {
  const l: Listener = { server: createServer((c) => { l.accepted++; c.on('error', () => undefined); c.destroy(); }), port: 0, accepted: 0 };
  await new Promise<void>((resolve) => { l.server.listen(port, host, resolve); });
  l.port = (l.server.address() as AddressInfo).port;
  return l;
}
const close = (l: Listener): Promise<void> => new Promise((resolve) => { l.server.close(() => { resolve(); }); });

async function until(cond: () => boolean, what: string, ms = 5000): Promise<number> {
  const started = Date.now();
  while (!cond()) {
    if (Date.now() - started > ms) assert.fail(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - started;
}

/** An HTTP server answering 200, or 500 while `failing`; its connections counted. */
async function httpListen(host: string, port = 0): Promise<Listener & { failing: boolean; requests: number }> {
  const server = createHttpServer((_q, res) => { l.requests++; res.statusCode = l.failing ? 500 : 200; res.end('ok'); });
  server.keepAliveTimeout = 60_000;
  const l: Listener & { failing: boolean; requests: number } = { server, port: 0, accepted: 0, failing: false, requests: 0 };
  l.server.on('connection', () => { l.accepted++; });
  await new Promise<void>((resolve) => { l.server.listen(port, host, resolve); });
  l.port = (l.server.address() as AddressInfo).port;
  return l;
}

function setup(o: { path?: string; failureThreshold?: number; kind?: HealthCheckKind } = {}) {
  const logs: string[] = [];
  const log: Log = { ...silentLog, info: (_o, m) => { logs.push(m); }, warn: (_o, m) => { logs.push(m); }, error: (_o, m) => { logs.push(m); } };
  const results: boolean[] = [];
  const transitions: HealthTransition[] = [];
  const inUse: string[] = [];
  let inProcess = 0;
  // random 0: the restart backoff's shortest step (250 ms).
  const native = new NativeProber({ clock: systemClock, log, random: () => 0, inUse: (k, p) => { inUse.push(`${k} ${p}`); }, ...(o.path === undefined ? {} : { path: o.path }) });
  const checker = new HealthChecker({
    clock: systemClock, log, changed: () => undefined, native,
    probe: (r) => { inProcess++; return realProbe(r); },
    result: (ok, n) => { for (let i = 0; i < n; i++) results.push(ok); }, transition: (t) => { transitions.push(t); },
  });
  const kind = o.kind ?? 'tcp';
  const spec = { kind, ...HEALTH_CHECK_DEFAULTS, intervalMs: 100, timeoutMs: 300, failureThreshold: o.failureThreshold ?? 3, ...(kind === 'http' ? { path: '/healthz' } : {}) };
  const target = (host: string, port: number): ServiceProbes => ({ spec, targets: new Map([[host, { ip: ip(host), port }]]) });
  return { native, checker, logs, results, transitions, inUse, target, inProcess: () => inProcess };
}

test('kube-ipvs-prober takes the TCP checks over: results by SYN probes (nothing accepted), down after 3 failures, back after 2', async (t) => {
  const host = '127.0.0.6';
  let srv = await listen(host);
  const port = srv.port;
  const s = setup();
  t.after(async () => { s.checker.stop(); s.native.stop(); await close(srv); });
  await s.native.start();
  assert.equal(s.native.prober('tcp'), 'native');
  assert.deepEqual(s.inUse, ['tcp native', 'http native']);
  assert.ok(s.logs.includes('health checks: TCP and HTTP probes by kube-ipvs-prober (TCP: half-open SYN probes on a raw socket; HTTP: kept-alive connections)'));
  s.checker.setTargets('shop/web', s.target(host, port));
  await until(() => s.results.length >= 5, '5 probes');
  assert.ok(s.results.every(Boolean));
  assert.equal(s.native.targets, 1, 'the helper has the target');
  assert.equal(srv.accepted, 0, 'half-open probes: the listener never accepted a connection (an in-process probe connects)');

  await close(srv);
  const out = await until(() => s.checker.down('shop/web')?.has(host) === true, 'held down');
  assert.ok(out >= 190, `three failures take at least two intervals (${out} ms)`);
  srv = await listen(host, port);
  await until(() => s.checker.down('shop/web') === undefined, 'back');
  assert.deepEqual(s.transitions.map((x) => x.down), [true, false]);

  // The Service loses its check: the helper lets the target go.
  s.checker.setTargets('shop/web', undefined);
  await until(() => s.native.targets === 0, 'removed from the helper');
  const n = s.results.length;
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(s.results.length, n, 'no result after the target was removed');
});

test('a helper that dies is restarted; meanwhile checks run in-process, and no endpoint is marked down by its death', async (t) => {
  const host = '127.0.0.7';
  const srv = await listen(host);
  // One failure would take it out: any probe its death turned into a failure would show.
  const s = setup({ failureThreshold: 1 });
  t.after(async () => { s.checker.stop(); s.native.stop(); await close(srv); });
  await s.native.start();
  s.checker.setTargets('shop/web', s.target(host, srv.port));
  await until(() => s.results.length >= 3, 'probes by the helper');
  for (let round = 0; round < 3; round++) {
    const pid = s.native.pid ?? assert.fail('no helper');
    process.kill(pid, 'SIGKILL');
    await until(() => s.native.prober('tcp') === 'in-process', 'the death seen');
    const accepted = srv.accepted;
    await until(() => srv.accepted > accepted, 'an in-process probe while it is down');
    await until(() => s.native.prober('tcp') === 'native' && s.native.pid !== pid, 'restarted', 5000);
    await until(() => s.native.targets === 1, 'the target handed over again');
  }
  const n = s.results.length;
  await until(() => s.results.length >= n + 3, 'probes by the new helper');
  assert.ok(s.results.every(Boolean), `every probe passed: ${s.results.filter((r) => !r).length} failed`);
  assert.deepEqual(s.transitions, [], 'nothing taken out of rotation');
  assert.deepEqual(s.inUse.filter((x) => x.startsWith('tcp ')), ['tcp native', 'tcp in-process', 'tcp native', 'tcp in-process', 'tcp native', 'tcp in-process', 'tcp native']);
  assert.equal(s.logs.filter((l) => l.startsWith('health checks: kube-ipvs-prober ended; its probes run in-process until it is back')).length, 3);
});

test('a helper that stops answering is replaced', async (t) => {
  const host = '127.0.0.8';
  const srv = await listen(host);
  const s = setup();
  t.after(async () => { s.checker.stop(); s.native.stop(); await close(srv); });
  await s.native.start();
  s.checker.setTargets('shop/web', s.target(host, srv.port));
  await until(() => s.results.length >= 2, 'probes by the helper');
  const pid = s.native.pid ?? assert.fail('no helper');
  process.kill(pid, 'SIGSTOP');
  // Silent past interval + timeout + 5 s: killed, restarted.
  await until(() => s.native.pid !== pid && s.native.prober('tcp') === 'native', 'replaced', 10_000);
  assert.ok(s.logs.includes('health checks: kube-ipvs-prober stopped answering; restarting it'));
  assert.deepEqual(s.transitions, []);
});

test('no helper binary: checks stay in-process, said once', async (t) => {
  const host = '127.0.0.9';
  const srv = await listen(host);
  const s = setup({ path: join(tmpdir(), 'no-such-dir', 'kube-ipvs-prober') });
  t.after(async () => { s.checker.stop(); s.native.stop(); await close(srv); });
  await s.native.start();
  assert.equal(s.native.prober('tcp'), 'in-process');
  assert.equal(s.native.prober('http'), 'in-process');
  s.checker.setTargets('shop/web', s.target(host, srv.port));
  await until(() => s.results.length >= 3, 'in-process probes');
  assert.ok(s.results.every(Boolean));
  assert.ok(srv.accepted >= 3, 'connections: the in-process prober');
  const said = s.logs.filter((l) => l.includes('kube-ipvs-prober'));
  assert.deepEqual(said, ['health checks: kube-ipvs-prober not found (make native builds it); TCP and HTTP probes run in-process (about 5x the CPU per probe)']);
  assert.deepEqual(s.inUse, []);
});

test('raw sockets refused (no CAP_NET_RAW): the helper takes the HTTP checks only, TCP checks stay in-process, said once, no restart loop', async (t) => {
  const host = '127.0.0.10';
  const srv = await listen(host);
  const web = await httpListen(host);
  const dir = mkdtempSync(join(tmpdir(), 'prober-'));
  const wrapper = join(dir, 'kube-ipvs-prober');
  writeFileSync(wrapper, `#!/bin/sh\nexec setpriv --bounding-set=-net_raw ${PROBER_PATH}\n`);
  chmodSync(wrapper, 0o755);
  const s = setup({ path: wrapper });
  const h = setup({ kind: 'http' });
  t.after(async () => { s.checker.stop(); s.native.stop(); h.checker.stop(); await close(srv); await close(web); });
  await s.native.start();
  const pid = s.native.pid;
  assert.equal(s.native.prober('tcp'), 'in-process');
  assert.equal(s.native.prober('http'), 'native');
  assert.deepEqual(s.inUse, ['http native']);
  s.checker.setTargets('shop/tcp', s.target(host, srv.port));
  const http = h.target(host, web.port);
  s.checker.setTargets('shop/http', { spec: http.spec, targets: http.targets });
  await until(() => s.results.length >= 8, 'probes');
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(s.results.every(Boolean));
  assert.equal(s.native.targets, 1, 'the helper has the HTTP target only');
  assert.ok(srv.accepted >= 3, 'TCP: connections, the in-process prober');
  assert.ok(web.requests >= 3, 'HTTP: requests');
  assert.equal(s.inProcess(), srv.accepted, 'every in-process probe was a TCP one');
  assert.equal(s.native.pid, pid, 'not restarted');
  assert.deepEqual(s.logs.filter((l) => l.includes('kube-ipvs-prober')), ['health checks: HTTP probes by kube-ipvs-prober; its raw sockets refused (needs CAP_NET_RAW): TCP probes run in-process (about 5x the CPU per probe)']);
});

// Both I/O paths of the helper's HTTP checks: io_uring (the default where the kernel allows it,
// as here) and epoll (forced by KUBE_IPVS_PROBER_IO, which the helper inherits).
for (const io of ['io_uring', 'epoll'] as const) {
test(`kube-ipvs-prober takes the HTTP checks over (${io}): no in-process probe, one kept-alive connection; down on 500s, back on 200s`, async (t) => {
  const host = '127.0.0.12';
  const web = await httpListen(host);
  const before = process.env.KUBE_IPVS_PROBER_IO;
  process.env.KUBE_IPVS_PROBER_IO = io;
  const s = setup({ kind: 'http' });
  t.after(async () => {
    if (before === undefined) delete process.env.KUBE_IPVS_PROBER_IO;
    else process.env.KUBE_IPVS_PROBER_IO = before;
    s.checker.stop();
    s.native.stop();
    await close(web);
  });
  await s.native.start();
  assert.equal(s.native.prober('http'), 'native');
  assert.equal(s.native.io, io, 'the helper says which I/O its HTTP checks use');
  s.checker.setTargets('shop/web', s.target(host, web.port));
  await until(() => s.results.length >= 3, '3 probes');
  assert.equal(s.native.targets, 1, 'the helper has the target');
  web.failing = true;
  await until(() => s.checker.down('shop/web')?.has(host) === true, 'held down');
  web.failing = false;
  await until(() => s.checker.down('shop/web') === undefined, 'back');
  assert.deepEqual(s.transitions.map((x) => x.down), [true, false]);
  assert.equal(s.inProcess(), 0, 'no in-process probe');
  assert.equal(web.accepted, 1, 'every probe on one kept-alive connection');
  assert.ok(web.requests >= 8, `${web.requests} requests`);
});
}

test('HTTP checks: a helper that dies leaves them in-process until it is back, nothing taken down', async (t) => {
  const host = '127.0.0.13';
  const web = await httpListen(host);
  const s = setup({ kind: 'http', failureThreshold: 1 });
  t.after(async () => { s.checker.stop(); s.native.stop(); await close(web); });
  await s.native.start();
  s.checker.setTargets('shop/web', s.target(host, web.port));
  await until(() => s.results.length >= 3, 'probes by the helper');
  assert.equal(s.inProcess(), 0);
  const pid = s.native.pid ?? assert.fail('no helper');
  process.kill(pid, 'SIGKILL');
  await until(() => s.native.prober('http') === 'in-process', 'the death seen');
  await until(() => s.inProcess() > 0, 'an in-process probe while it is down');
  await until(() => s.native.prober('http') === 'native' && s.native.pid !== pid && s.native.targets === 1, 'restarted, the target handed over again');
  const n = s.results.length;
  const inProcess = s.inProcess();
  await until(() => s.results.length >= n + 3, 'probes by the new helper');
  assert.equal(s.inProcess(), inProcess, 'none in-process once it is back');
  assert.ok(s.results.every(Boolean));
  assert.deepEqual(s.transitions, []);
  assert.deepEqual(s.inUse, ['tcp native', 'http native', 'tcp in-process', 'http in-process', 'tcp native', 'http native']);
});

test('oks past the success threshold are only counted: the checker\'s transitions and checks-by-result count stay those of every probe reported', async (t) => {
  const host = '127.0.0.11';
  let srv = await listen(host);
  const port = srv.port;
  const s = setup();
  // What the helper reports one by one (each one a line node parses and a checker update).
  let lines = 0;
  const listen0 = s.native.listen.bind(s.native);
  s.native.listen = (l) => { listen0({ ...l, result: (id, ok) => { lines++; l.result(id, ok); } }); };
  const checker = new HealthChecker({ clock: systemClock, log: silentLog, changed: () => undefined, native: s.native, result: (ok, n) => { for (let i = 0; i < n; i++) s.results.push(ok); }, transition: (x) => { s.transitions.push(x); } });
  t.after(async () => { checker.stop(); s.checker.stop(); s.native.stop(); await close(srv); });
  await s.native.start();
  const t0 = Date.now();
  checker.setTargets('shop/web', s.target(host, port));
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(lines, 2, 'an endpoint up for a while: a result line for each of its first 2 oks (the success threshold) only');
  // A failure comes with the oks counted till then: every probe until the close is counted.
  await close(srv);
  const closed = Date.now();
  await until(() => s.results.includes(false), 'a failure');
  const probes = s.results.indexOf(false);
  assert.ok(probes >= 11 && probes <= (closed - t0) / 95 + 1, `every probe of ${closed - t0} ms at 100 ms counted: ${probes}`);
  srv = await listen(host, port);
  await until(() => s.results.at(-1) === true, 'an ok again');
  await new Promise((r) => setTimeout(r, 350));

  // Failures short of the threshold (1 or 2), an ok, three times (the first above): the ok
  // after them is reported and resets the count, so these failures (3 or more in all) never
  // take it down.
  for (let round = 1; round < 3; round++) {
    await close(srv);
    await until(() => s.results.includes(false) && !s.results.at(-1)!, 'a failure');
    srv = await listen(host, port);
    await until(() => s.results.at(-1) === true, 'an ok again');
    await new Promise((r) => setTimeout(r, 350));
  }
  assert.equal(s.transitions.length, 0, 'never held down');
  assert.equal(checker.down('shop/web'), undefined);

  // Down after 3 failures, back after 2 oks, as before.
  await close(srv);
  await until(() => checker.down('shop/web')?.has(host) === true, 'held down');
  srv = await listen(host, port);
  await until(() => checker.down('shop/web') === undefined, 'back');
  assert.deepEqual(s.transitions.map((x) => x.down), [true, false]);
  const failed = s.results.filter((r) => !r).length;
  const n1 = s.results.length;
  // Counted oks come at least once a second.
  const took = await until(() => s.results.length - n1 >= 10, 'oks still counted once up again', 3000);
  assert.ok(took >= 900, `10 probes at 100 ms take ~1 s: ${took} ms`);
  assert.equal(s.results.filter((r) => !r).length, failed);
});
