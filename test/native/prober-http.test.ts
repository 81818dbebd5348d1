// kube-ipvs-prober's HTTP checks (src/native/http.c), the real binary (`make native`) against
// real servers in this process: node:http ones, and raw TCP servers that frame (or break) an
// answer byte by byte as a test needs. ok = a whole answer with a 2xx/3xx status in time, on a
// kept-alive connection per endpoint; everything else fails; a bad "h" line changes nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROBER_PATH } from '../../src/observe/native-prober.ts';
import { Prober } from '../support/prober-process.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Counted { readonly server: Server; port: number; connections: number; requests: number }

async function serve(server: Server, host: string, c: Counted = { server, port: 0, connections: 0, requests: 0 }): Promise<Counted> {
  server.on('connection', (s: Socket) => { c.connections++; s.on('error', () => undefined); });
  await new Promise<void>((resolve) => { server.listen(0, host, resolve); });
  c.port = (server.address() as AddressInfo).port;
  return c;
}

/** node:http: /ok 200, /fail 500, /moved 301, /empty 204; requests counted. */
function httpServer(host = '127.0.0.1'): Promise<Counted> {
  const status: Record<string, number> = { '/ok': 200, '/fail': 500, '/moved': 301, '/empty': 204 };
  const server = createHttpServer((req, res) => {
    c.requests++;
    res.statusCode = status[req.url ?? ''] ?? 404;
    if (res.statusCode === 301) res.setHeader('Location', '/ok');
    res.end(res.statusCode === 204 ? undefined : 'some body');
  });
  server.keepAliveTimeout = 60_000;
  const c: Counted = { server, port: 0, connections: 0, requests: 0 };
  return serve(server, host, c);
}

/** A raw server: `answer(socket, request number on this connection)` on each request's end. */
function rawServer(answer: (s: Socket, n: number) => void): Promise<Counted> {
  const server = createServer((s) => {
    let text = '';
    let n = 0;
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      while (text.includes('\r\n\r\n')) {
        text = text.slice(text.indexOf('\r\n\r\n') + 4);
        c.requests++;
        answer(s, n++);
      }
    });
  });
  const c: Counted = { server, port: 0, connections: 0, requests: 0 };
  return serve(server, '127.0.0.1', c);
}

/** Writes the parts with `gapMs` between them. */
async function dribble(s: Socket, parts: readonly string[], gapMs: number): Promise<void> {
  for (const p of parts) {
    if (s.destroyed) return;
    s.write(p);
    await sleep(gapMs);
  }
}

const results = (p: Prober, id: number): string[] => p.lines.filter((l) => l.startsWith(`r ${id} `)).map((l) => l.split(' ')[2]!);

/** The I/O paths of the helper's HTTP checks; each test runs on both (KUBE_IPVS_PROBER_IO). */
const IO_PATHS = ['io_uring', 'epoll'] as const;
type Io = typeof IO_PATHS[number];

async function started(t: { after: (f: () => unknown) => void }, io: Io, ...servers: Counted[]): Promise<Prober> {
  const p = new Prober(undefined, { KUBE_IPVS_PROBER_IO: io });
  t.after(async () => {
    if (p.child.exitCode === null) await p.end();
    for (const s of servers) s.server.close();
  });
  assert.match(await p.until(/^ready /), new RegExp(`^ready \\d+ \\d+ tcp,http ${io}$`));
  return p;
}

for (const io of IO_PATHS) {
  test(`${io}: status 200 and 301 are ok, 500 and 404 fail, 204 without a body is ok; one kept-alive connection per endpoint serves every probe`, async (t) => {
    const srv = await httpServer();
    const p = await started(t, io, srv);
    // rise 100: every ok reported. Interval 100 ms.
    const h = (id: number, path: string): string => `h ${id} 127.0.0.1 ${srv.port} 100 1000 100 ${path}\n`;
    p.send(h(1, '/ok') + h(2, '/fail') + h(3, '/moved') + h(4, '/nothing') + h(5, '/empty'));
    await sleep(750);
    for (const [id, want] of [[1, 'ok'], [2, 'failed'], [3, 'ok'], [4, 'failed'], [5, 'ok']] as const) {
      const r = results(p, id);
      assert.ok(r.length >= 5 && r.every((x) => x === want), `target ${id}: ${r.join(' ')}`);
    }
    assert.equal(srv.connections, 5, 'one connection per target, reused by every probe');
    assert.ok(srv.requests >= 25, `${srv.requests} requests`);
  });

  test(`${io}: a Content-Length body, a chunked body split across writes, and a body that runs to the close are each read whole before ok`, async (t) => {
    const head = 'HTTP/1.1 200 OK\r\n';
    const length = await rawServer((s) => { void dribble(s, [`${head}Content-Length: 10\r\n\r\n12345`, '67890'], 150); });
    const chunked = await rawServer((s) => { void dribble(s, [`${head}Transfer-Encoding: chunked\r\n\r\n5\r\nhel`, 'lo\r\n3;ext=1\r\nabc\r\n', '0\r\nX-Trailer: 1\r\n\r\n'], 150); });
    const toClose = await rawServer((s) => { void dribble(s, [`${head}Content-Type: text/plain\r\n\r\nsome`, ' body'], 150).then(() => s.end()); });
    // The same three without their last part: never whole, so they time out.
    const lengthShort = await rawServer((s) => { s.write(`${head}Content-Length: 10\r\n\r\n12345`); });
    const chunkedShort = await rawServer((s) => { s.write(`${head}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n`); });
    const neverClosed = await rawServer((s) => { s.write(`${head}\r\nsome body`); });
    const p = await started(t, io, length, chunked, toClose, lengthShort, chunkedShort, neverClosed);
    const all = [length, chunked, toClose, lengthShort, chunkedShort, neverClosed];
    const sentAt = Date.now();
    p.send(all.map((s, i) => `h ${i + 1} 127.0.0.1 ${s.port} 1 1000 100 /\n`).join(''));
    for (const id of [1, 2, 3]) {
      await p.until(new RegExp(`^r ${id} `));
    }
    assert.ok(Date.now() - sentAt >= 250, 'not before the last part came');
    for (const id of [4, 5, 6]) await p.until(new RegExp(`^r ${id} `), 3000);
    assert.deepEqual([1, 2, 3, 4, 5, 6].map((id) => results(p, id)[0]), ['ok', 'ok', 'ok', 'timeout', 'timeout', 'timeout']);
  });

  test(`${io}: an answer written byte by byte is ok`, async (t) => {
    const answer = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
    const srv = await rawServer((s) => { void dribble(s, answer.split(''), 2); });
    const p = await started(t, io, srv);
    p.send(`h 1 127.0.0.1 ${srv.port} 1 2000 100 /\n`);
    assert.equal(await p.until(/^r 1 /, 4000), 'r 1 ok');
  });

  test(`${io}: "Connection: close" and HTTP/1.0 answers: ok, and the prober closes the connection (a new one per probe)`, async (t) => {
    const close = await rawServer((s) => { s.write('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok'); });
    const old = await rawServer((s) => { s.write('HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok'); });
    const p = await started(t, io, close, old);
    p.send(`h 1 127.0.0.1 ${close.port} 100 1000 100 /\nh 2 127.0.0.1 ${old.port} 100 1000 100 /\n`);
    await sleep(650);
    for (const [id, srv] of [[1, close], [2, old]] as const) {
      const r = results(p, id);
      assert.ok(r.length >= 4 && r.every((x) => x === 'ok'), r.join(' '));
      assert.ok(srv.connections >= r.length, `${srv.connections} connections for ${r.length} probes (the server never closed one)`);
    }
  });

  test(`${io}: refused, silence and garbage fail: refused at once, an accepted connection that never answers at its timeout`, async (t) => {
    const silent = await rawServer(() => undefined);
    const garbage = await rawServer((s) => { s.write('SSH-2.0-OpenSSH_9.2\r\n\r\n'); });
    const hugeHead = await rawServer((s) => { s.write(`HTTP/1.1 200 OK\r\n${'X-Padding: yes\r\n'.repeat(5000)}Content-Length: 0\r\n\r\n`); });
    const closed = await rawServer(() => undefined);
    closed.server.close();
    const p = await started(t, io, silent, garbage, hugeHead);
    const sentAt = Date.now();
    p.send([closed, silent, garbage, hugeHead].map((s, i) => `h ${i + 1} 127.0.0.1 ${s.port} 1 600 100 /\n`).join(''));
    assert.equal(await p.until(/^r 1 /), 'r 1 refused');
    assert.equal(await p.until(/^r 3 /), 'r 3 failed');
    assert.equal(await p.until(/^r 4 /), 'r 4 failed', 'headers past 64 KiB');
    assert.equal(await p.until(/^r 2 /), 'r 2 timeout');
    assert.ok(Date.now() - sentAt >= 600, 'the silent one at its timeout, not before');
  });

  test(`${io}: bytes nobody asked for close the connection: the next probe opens a new one and is ok`, async (t) => {
    // After each answer, bytes of nothing 50 ms later; then the prober must not read them as the next answer.
    const srv = await rawServer((s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      setTimeout(() => { if (!s.destroyed) s.write('HTTP/1.1 500 Unasked\r\nContent-Length: 0\r\n\r\n'); }, 50);
    });
    // Extra bytes in the same write as the answer: the answer counts, the connection goes.
    const extra = await rawServer((s) => { s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 500 Unasked\r\n\r\n'); });
    const p = await started(t, io, srv, extra);
    p.send(`h 1 127.0.0.1 ${srv.port} 200 1000 100 /\nh 2 127.0.0.1 ${extra.port} 200 1000 100 /\n`);
    await sleep(1100);
    for (const [id, s] of [[1, srv], [2, extra]] as const) {
      const r = results(p, id);
      assert.ok(r.length >= 4 && r.every((x) => x === 'ok'), `target ${id}: ${r.join(' ')}`);
      assert.ok(s.connections >= r.length, `target ${id}: a new connection for every probe (${s.connections} for ${r.length})`);
    }
  });

  test(`${io}: a kept-alive connection the server closes as the next request comes is retried once on a new one (ok); a second close fails`, async (t) => {
    // Each connection answers its first request and closes on the second without a byte.
    const closing = await rawServer((s, n) => { if (n === 0) s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'); else s.destroy(); });
    // A fresh connection closed without an answer is no idle close: failed, no retry.
    const never = await rawServer((s) => { s.destroy(); });
    const p = await started(t, io, closing, never);
    p.send(`h 1 127.0.0.1 ${closing.port} 150 1000 100 /\nh 2 127.0.0.1 ${never.port} 150 1000 100 /\n`);
    await sleep(1000);
    const r = results(p, 1);
    assert.ok(r.length >= 4 && r.every((x) => x === 'ok'), r.join(' '));
    // Probe 1 on connection 1; every later probe: its request closed on the old connection, then a new one.
    // (one more of each when a probe was in flight at the count)
    assert.ok(closing.connections - r.length <= 1 && closing.connections >= r.length, `${closing.connections} connections for ${r.length} probes`);
    assert.ok(closing.requests >= 2 * r.length - 1 && closing.requests <= 2 * r.length + 1, `${closing.requests} requests for ${r.length} probes`);
    const n = results(p, 2);
    assert.ok(n.length >= 4 && n.every((x) => x === 'failed'), n.join(' '));
    assert.ok(never.requests - n.length <= 1, `no retry on a new connection: ${never.requests} requests for ${n.length} probes`);
  });

  test(`${io}: IPv6: GET with the bracketed Host header on ::1`, async (t) => {
    let host = '';
    const server = createHttpServer((req, res) => { host = req.headers.host ?? ''; res.end('ok'); });
    const srv = await serve(server, '::1');
    const p = await started(t, io, srv);
    p.send(`h 1 ::1 ${srv.port} 100 1000 100 /healthz?full=1\n`);
    assert.equal(await p.until(/^r 1 /), 'r 1 ok');
    assert.equal(host, `[::1]:${srv.port}`);
  });

  test(`${io}: malformed "h" lines: an error naming each, nothing probed for them, the good line still served`, async (t) => {
    const srv = await httpServer();
    const p = await started(t, io, srv);
    const good = `127.0.0.1 ${srv.port} 100 1000 2`;
    const bad = [
      `h 1 ${good}`, `h 1 ${good} healthz`, `h 1 ${good} /a b`, `h 1 ${good} /a\tb`, `h 1 ${good} /\u00e9`, `h 1 ${good} /ok extra`,
      `h 1 ${good} /\u0001`, `h 1 127.0.0.1 0 100 1000 2 /ok`, `h 1 ::x ${srv.port} 100 1000 2 /ok`, `h 70000 ${good} /ok`,
      `h 1 ${good} /${'a'.repeat(1024)}`,
    ];
    p.send(`${bad.join('\r\n')}\nh 2 ${good} /ok\n`);
    await p.until(/^r 2 ok$/);
    await sleep(300);
    const errors = p.lines.filter((l) => l.startsWith('e '));
    assert.equal(errors.length, bad.length, errors.join('\n'));
    assert.ok(errors.some((l) => l.startsWith('e bad path: "h 1 127.0.0.1')));
    assert.ok(errors.every((l) => /^e [^\n]*: "[\x20-\x7e]*(\.\.\.)?"$/.test(l)), errors.join('\n'));
    assert.deepEqual(results(p, 1), [], 'nothing from a malformed line was probed');
    assert.equal(srv.connections, 1);
  });

  test(`${io}: without CAP_NET_RAW it still runs, for HTTP checks only: "ready 0 0 http", TCP lines refused`, async (t) => {
    const srv = await httpServer();
    t.after(() => { srv.server.close(); });
    const script = `{ printf 'a 1 127.0.0.1 ${srv.port} 100 1000 2\\nh 2 127.0.0.1 ${srv.port} 100 1000 100 /ok\\n'; sleep 0.5; } | KUBE_IPVS_PROBER_IO=${io} setpriv --bounding-set=-net_raw ${PROBER_PATH}`;
    // Not spawnSync: the server runs in this process.
    const child = spawn('sh', ['-c', script]);
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    const [status] = await once(child, 'exit') as [number | null];
    const r = { status, stdout };
    assert.equal(r.status, 0);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines[0], `ready 0 0 http ${io}`);
    assert.equal(lines[1], `e no TCP probes without raw sockets (CAP_NET_RAW): "a 1 127.0.0.1 ${srv.port} 100 1000 2"`);
    const rest = lines.slice(2);
    assert.ok(rest.length >= 3 && rest.every((l) => l === 'r 2 ok'), rest.join('\n'));
  });

  test(`${io}: open-files limit: raised from soft to hard at start (100 kept-alive connections under a soft 64); past the hard one a probe fails with an error line, no crash`, async (t) => {
    const srv = await httpServer();
    t.after(() => { srv.server.close(); });
    const run = async (limit: string, targets: number): Promise<string[]> => {
      const lines = Array.from({ length: targets }, (_, i) => `h ${i} 127.0.0.1 ${srv.port} 200 1000 100 /ok\\n`).join('');
      const child = spawn('sh', ['-c', `{ printf '${lines}'; sleep 1; } | KUBE_IPVS_PROBER_IO=${io} prlimit --nofile=${limit} ${PROBER_PATH}`]);
      let stdout = '';
      child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
      const [status] = await once(child, 'exit') as [number | null];
      assert.equal(status, 0, 'exits 0 when stdin closes');
      return stdout.trim().split('\n');
    };
    const raised = await run('64:4096', 100);
    for (let id = 0; id < 100; id++) assert.ok(raised.includes(`r ${id} ok`), `target ${id}: ${raised.filter((l) => l.startsWith(`r ${id} `)).join(', ')}`);
    assert.deepEqual(raised.filter((l) => !/^(ready|r \d+ ok)/.test(l)), []);
    // 32 descriptors in all (stdio, epoll and the prober's own sockets among them): some targets get none.
    const short = await run('32:32', 40);
    const errors = short.filter((l) => l.startsWith('e no socket for '));
    assert.ok(errors.length > 0 && errors.every((l) => /^e no socket for \d+: Too many open files$/.test(l)), short.join('\n'));
    const failed = new Set(short.filter((l) => / failed$/.test(l)).map((l) => l.split(' ')[1]));
    for (const e of errors) assert.ok(failed.has(e.split(' ')[4]!.slice(0, -1)), `${e}: its probe failed`);
    assert.equal(new Set(errors).size, errors.length, 'said once per target until a socket opens');
    assert.ok(short.some((l) => / ok$/.test(l)), 'the others probed');
  });
}

test('io_uring refused (a seccomp filter, as a container runtime\'s default profile): the helper says epoll, and its HTTP checks work', async (t) => {
  // A small C harness that refuses io_uring_setup, then runs the helper (test/native/deny-io-uring.c).
  const deny = join(mkdtempSync(join(tmpdir(), 'deny-io-uring-')), 'deny-io-uring');
  execFileSync('gcc', ['-O2', '-Wall', '-Werror', '-o', deny, join(import.meta.dirname, 'deny-io-uring.c')], { timeout: 60_000 });
  const srv = await httpServer();
  const p = new Prober([deny, PROBER_PATH]);
  t.after(async () => {
    if (p.child.exitCode === null) await p.end();
    srv.server.close();
  });
  assert.match(await p.until(/^ready /), /^ready \d+ \d+ tcp,http epoll$/);
  p.send(`h 1 127.0.0.1 ${srv.port} 100 1000 100 /ok\n`);
  await sleep(550);
  const r = results(p, 1);
  assert.ok(r.length >= 3 && r.every((x) => x === 'ok'), r.join(' '));
  assert.equal(srv.connections, 1, 'one kept-alive connection');
});
