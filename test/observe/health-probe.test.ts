// Probes against real local servers on 127.0.0.x (the interface the prober really uses), and
// the checker with real probes and real time taking a stopped server out and back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { HEALTH_CHECK_DEFAULTS, type ServiceProbes } from '../../src/compute/model/health-check.ts';
import { parseIp, type Ip } from '../../src/compute/net/ip.ts';
import { silentLog } from '../../src/log.ts';
import { HealthChecker } from '../../src/observe/health-checker.ts';
import { probeTcp } from '../../src/observe/health-probe.ts';
import { probeHttpRaw as probeHttp } from '../../src/observe/http-probe.ts';
import { systemClock } from '../../src/sync/clock.ts';

const ip = (s: string): Ip => parseIp(s) ?? assert.fail(s);

interface Listening { readonly server: Server | HttpServer; readonly port: number; readonly conns: Set<Socket> }

async function listen(server: Server | HttpServer, host: string, port = 0): Promise<Listening> {
  const conns = new Set<Socket>();
  server.on('connection', (s: Socket) => { conns.add(s); s.on('close', () => conns.delete(s)); });
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(port, host, resolve); });
  return { server, port: (server.address() as AddressInfo).port, conns };
}

async function close(s: Listening): Promise<void> {
  for (const c of s.conns) c.destroy();
  await new Promise<void>((resolve) => { s.server.close(() => { resolve(); }); });
}

test('TCP probe: a listening port passes, a closed one fails at once', async (t) => {
  const srv = await listen(createServer((c) => { c.on('error', () => undefined); }), '127.0.0.2');
  t.after(() => close(srv));
  assert.equal(await probeTcp(ip('127.0.0.2'), srv.port, 1000), true);
  const started = Date.now();
  assert.equal(await probeTcp(ip('127.0.0.3'), srv.port, 1000), false, 'nothing listens on 127.0.0.3');
  assert.ok(Date.now() - started < 900, 'refused, not timed out');
});

test('HTTP probe: 2xx/3xx pass, 5xx fails, a silent server fails at its timeout; one kept-alive connection carries the probes', async (t) => {
  let status = 200;
  let silent = false;
  const srv = await listen(createHttpServer((req, res) => {
    if (silent) return;
    res.statusCode = req.url === '/healthz' ? status : 404;
    res.end('ok');
  }), '127.0.0.4');
  t.after(() => close(srv));
  const at = ip('127.0.0.4');
  assert.equal(await probeHttp(at, srv.port, '/healthz', 1000), true);
  assert.equal(await probeHttp(at, srv.port, '/healthz', 1000), true);
  let accepted = 0;
  srv.server.on('connection', () => { accepted++; });
  assert.equal(await probeHttp(at, srv.port, '/healthz', 1000), true);
  assert.equal(accepted, 0, 'the kept-alive connection was reused');
  status = 302;
  assert.equal(await probeHttp(at, srv.port, '/healthz', 1000), true);
  status = 503;
  assert.equal(await probeHttp(at, srv.port, '/healthz', 1000), false);
  assert.equal(await probeHttp(at, srv.port, '/other', 1000), false, '404');
  silent = true;
  const started = Date.now();
  assert.equal(await probeHttp(at, srv.port, '/healthz', 300), false);
  const took = Date.now() - started;
  assert.ok(took >= 290 && took < 2000, String(took));
  silent = false;
  status = 200;
  assert.equal(await probeHttp(at, srv.port, '/healthz', 1000), true, 'a new connection after the timed-out one');
});

test('HTTP probe: a server that stopped fails the next probe (its kept-alive connection is not trusted)', async () => {
  const srv = await listen(createHttpServer((_req, res) => { res.end('ok'); }), '127.0.0.5');
  const at = ip('127.0.0.5');
  assert.equal(await probeHttp(at, srv.port, '/', 1000), true);
  await close(srv);
  assert.equal(await probeHttp(at, srv.port, '/', 1000), false);
});

test('HTTP probe: chunked bodies, Connection: close, and a kept-alive connection the server closed when idle', async (t) => {
  let mode: 'chunked' | 'close' | 'plain' = 'chunked';
  const server = createHttpServer((_req, res) => {
    if (mode === 'chunked') { res.write('o'); setTimeout(() => { res.end('k'); }, 20); return; }
    if (mode === 'close') res.setHeader('connection', 'close');
    res.end('ok');
  });
  const srv = await listen(server, '127.0.0.9');
  t.after(() => close(srv));
  const at = ip('127.0.0.9');
  let accepted = 0;
  server.on('connection', () => { accepted++; });
  assert.equal(await probeHttp(at, srv.port, '/', 1000), true);
  assert.equal(await probeHttp(at, srv.port, '/', 1000), true);
  assert.equal(accepted, 1, 'a chunked answer read to its end: the connection carries the next probe');
  mode = 'close';
  assert.equal(await probeHttp(at, srv.port, '/', 1000), true);
  mode = 'plain';
  assert.equal(await probeHttp(at, srv.port, '/', 1000), true);
  assert.equal(accepted, 2, 'Connection: close: a new connection for the next probe');
  // The server ends the idle connection (as at its keepAliveTimeout): the next probe still passes.
  server.closeIdleConnections();
  assert.equal(await probeHttp(at, srv.port, '/', 1000), true);
  assert.equal(accepted, 3);
});

test('the checker with real probes and real time: a stopped server is held down after 3 failures and back after 2 successes', async (t) => {
  const host = '127.0.0.6';
  let srv = await listen(createServer((c) => { c.on('error', () => undefined); }), host);
  const port = srv.port;
  const changes: string[] = [];
  const checker = new HealthChecker({ clock: systemClock, log: silentLog, changed: (s) => { changes.push(s); } });
  t.after(async () => { checker.stop(); await close(srv); });
  const probes: ServiceProbes = {
    spec: { kind: 'tcp', ...HEALTH_CHECK_DEFAULTS, intervalMs: 100, timeoutMs: 100 },
    targets: new Map([[host, { ip: ip(host), port }]]),
  };
  checker.setTargets('shop/web', probes);
  const until = async (cond: () => boolean, what: string): Promise<number> => {
    const started = Date.now();
    while (!cond()) {
      if (Date.now() - started > 5000) assert.fail(`not within 5 s: ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return Date.now() - started;
  };
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(checker.down('shop/web'), undefined);
  await close(srv);
  const out = await until(() => checker.down('shop/web')?.has(host) === true, 'held down');
  assert.ok(out >= 190, `three failures take at least two intervals (${out} ms)`);
  srv = await listen(createServer((c) => { c.on('error', () => undefined); }), host, port);
  await until(() => checker.down('shop/web') === undefined, 'back');
  assert.deepEqual(changes, ['shop/web', 'shop/web']);
});
