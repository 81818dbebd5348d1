// kube-ipvs-prober (src/native/prober.c), the real binary (`make native`) against real listeners
// on 127.0.0.x and ::1: SYN-ACK → ok, RST → refused at once, silence → timeout (packets dropped
// in a network namespace of its own), and no connection is ever accepted by the endpoint (the
// SYN-ACK is reset, nothing half-open stays). Then its protocol: malformed lines each get an
// error naming them and change nothing else, a removed target is never named again, and
// without CAP_NET_RAW it serves HTTP checks only (prober-http.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { PROBER_PATH } from '../../src/observe/native-prober.ts';
import { Prober } from '../support/prober-process.ts';

async function listen(host: string, port = 0): Promise<{ server: Server; port: number; accepted: () => number }> {
  let accepted = 0;
  const server = createServer((c) => { accepted++; c.destroy(); });
  await new Promise<void>((resolve) => { server.listen(port, host, resolve); });
  return { server, port: (server.address() as AddressInfo).port, accepted: () => accepted };
}

test('SYN-ACK is ok, RST is refused at once, IPv4 and IPv6; the endpoint never accepts a connection', async (t) => {
  const v4 = await listen('127.0.0.2');
  const v6 = await listen('::1');
  t.after(() => { v4.server.close(); v6.server.close(); });
  const p = new Prober();
  assert.match(await p.until(/^ready /), /^ready \d+ \d+ tcp,http (io_uring|epoll)$/);
  const started = Date.now();
  // rise 100: every ok of these few probes is reported.
  p.send(`a 1 127.0.0.2 ${v4.port} 200 1000 100\na 2 127.0.0.3 ${v4.port} 200 1000 100\na 3 ::1 ${v6.port} 200 1000 100\na 4 ::1 ${v4.port === 1 ? 2 : 1} 200 1000 100\n`);
  await p.until(/^r 1 ok$/);
  await p.until(/^r 3 ok$/);
  await p.until(/^r 2 refused$/);
  await p.until(/^r 4 refused$/);
  assert.ok(Date.now() - started < 900, 'answers within the first interval, none waited for its 1 s timeout');
  // Probes go on every interval (200 ms ± 5 %): a few more of each.
  await new Promise((r) => setTimeout(r, 700));
  const of = (id: number): string[] => p.lines.filter((l) => l.startsWith(`r ${id} `)).map((l) => l.split(' ')[2]!);
  for (const id of [1, 3]) assert.ok(of(id).length >= 3 && of(id).every((r) => r === 'ok'), `target ${id}: ${of(id).join(' ')}`);
  assert.ok(of(2).length >= 3 && of(2).every((r) => r === 'refused'), of(2).join(' '));
  assert.equal(v4.accepted() + v6.accepted(), 0, 'half-open: the kernel resets each SYN-ACK, no connection is ever established');
  assert.equal(await p.end(), 0);
});

test('a silent endpoint (its packets dropped) fails at its timeout, not before', () => {
  // Its own network namespace: loopback up, port 9 dropped. Interval 1 ms: the first probe goes
  // out at once; timeout 1 s. The "d" of unknown ids are markers in time (each is answered).
  const script = `ip link set lo up && iptables -w 5 -I INPUT -p tcp --dport 9 -j DROP &&
    { printf 'a 1 127.0.0.1 9 1 1000 2\\n'; sleep 0.5; printf 'd 7\\n'; sleep 1; printf 'd 8\\n'; sleep 0.1; } | ${PROBER_PATH}`;
  const r = spawnSync('unshare', ['-n', 'sh', '-c', script], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  // At 0.5 s no result yet; by 1.5 s its timeout came, once.
  assert.match(lines[0]!, /^ready /);
  assert.deepEqual(lines.slice(1), ['d 7', 'r 1 timeout', 'd 8']);
});

test('each target\'s SYN is summed with the source address it leaves from (two routes, two sources, a real veth)', () => {
  // A private mount and network namespace: a veth to a peer namespace holding 10.1.1.2 and
  // 10.2.2.2, reached from 10.1.1.1 and 10.2.2.1. Unlike loopback, the peer checks the checksum:
  // a SYN summed with the other target's source address is dropped (a timeout).
  const listener = `require('net').createServer((c) => c.destroy()).listen(8080)`;
  const script = `set -e; mount --make-rprivate /; mkdir -p /run/netns; mount -t tmpfs tmpfs /run/netns
    ip link set lo up; ip netns add peer; ip link add v0 type veth peer name v1 netns peer
    ip addr add 10.1.1.1/24 dev v0; ip addr add 10.2.2.1/24 dev v0; ip link set v0 up
    ip -n peer addr add 10.1.1.2/24 dev v1; ip -n peer addr add 10.2.2.2/24 dev v1; ip -n peer link set v1 up
    ip netns exec peer ${process.execPath} -e "${listener}; setTimeout(() => process.exit(), 4000)" &
    sleep 1.5
    { printf 'a 1 10.1.1.2 8080 200 300 100\\na 2 10.2.2.2 8080 200 300 100\\n'; sleep 2; } | ${PROBER_PATH}`;
  const r = spawnSync('unshare', ['-m', '-n', 'sh', '-c', script], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, r.stderr);
  const results = (id: number): string[] => r.stdout.split('\n').filter((l) => l.startsWith(`r ${id} `)).map((l) => l.split(' ')[2]!);
  for (const id of [1, 2]) {
    assert.ok(results(id).length >= 4, r.stdout);
    assert.deepEqual(results(id).filter((x) => x !== 'ok'), [], `target ${id}: ${results(id).join(' ')}`);
  }
});

test('malformed lines: an error naming each, the good lines still served, no crash', async (t) => {
  const srv = await listen('127.0.0.2');
  t.after(() => { srv.server.close(); });
  const p = new Prober();
  await p.until(/^ready /);
  const bad = [
    'bogus', 'a', 'a 1', 'a 1 127.0.0.2', 'a x 127.0.0.2 80 1000 1000 2', 'a 65536 127.0.0.2 80 1000 1000 2',
    'a 1 127.0.0.256 80 1000 1000 2', 'a 1 not-an-ip 80 1000 1000 2', 'a 1 127.0.0.2 0 1000 1000 2', 'a 1 127.0.0.2 65536 1000 1000 2',
    'a 1 127.0.0.2 80 0 1000 2', 'a 1 127.0.0.2 80 1000 0 2', 'a 1 127.0.0.2 80 300001 1000 2', 'a 1 127.0.0.2 80 1000 1000 2 extra',
    'a  1 127.0.0.2 80 1000 1000 2', 'a -1 127.0.0.2 80 1000 1000 2', 'a 99999999999 127.0.0.2 80 1000 1000 2', 'd', 'd x', 'd 70000',
    'A 1 127.0.0.2 80 1000 1000 2', '\u0000\u0001\u00ff', `a 1 ${'9'.repeat(1200)}`,
    // the rise: missing (the protocol before it), 0, past 16 bits, not a number
    'a 1 127.0.0.2 80 1000 1000', 'a 1 127.0.0.2 80 1000 1000 0', 'a 1 127.0.0.2 80 1000 1000 65536', 'a 1 127.0.0.2 80 1000 1000 x',
  ];
  // A fixed pseudo-random mix of garbage too (bytes 1..255, any length up to 400).
  let seed = 42;
  const rand = (n: number): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
  const garbage = Array.from({ length: 200 }, () => Buffer.from(Array.from({ length: 1 + rand(400) }, () => 1 + rand(255)).filter((b) => b !== 10)));
  p.send(`${bad.join('\n')}\n`);
  p.send(`a 5 127.0.0.2 ${srv.port} 100 1000 2\n`);
  for (const g of garbage) p.child.stdin.write(Buffer.concat([g, Buffer.from('\n')]));
  p.send(`a 6 127.0.0.2 ${srv.port} 100 1000 2\n`);
  await p.until(/^r 5 ok$/);
  await p.until(/^r 6 ok$/);
  const errors = p.lines.filter((l) => l.startsWith('e '));
  assert.equal(errors.length, bad.length + garbage.length, 'one error per malformed line');
  assert.ok(errors.includes('e bad address: "a 1 127.0.0.256 80 1000 1000 2"'), errors.slice(0, 12).join('\n'));
  assert.ok(errors.includes('e bad id: "a 65536 127.0.0.2 80 1000 1000 2"'));
  assert.ok(errors.includes('e bad interval: "a 1 127.0.0.2 80 300001 1000 2"'));
  assert.ok(errors.includes('e bad rise: "a 1 127.0.0.2 80 1000 1000 0"'));
  assert.ok(errors.includes('e bad rise: "a 1 127.0.0.2 80 1000 1000 65536"'));
  assert.ok(errors.includes('e expected "a <id> <ip> <port> <interval_ms> <timeout_ms> <rise>", "h <id> <ip> <port> <interval_ms> <timeout_ms> <rise> <path>" or "d <id>": "a 1 127.0.0.2 80 1000 1000"'));
  assert.ok(errors.includes('e expected "a <id> <ip> <port> <interval_ms> <timeout_ms> <rise>", "h <id> <ip> <port> <interval_ms> <timeout_ms> <rise> <path>" or "d <id>": "\\x00\\x01\\xc3\\xbf"'));
  assert.ok(errors.some((l) => l.startsWith('e line too long: "a 1 999') && l.endsWith('..."')));
  assert.ok(errors.every((l) => /^e [^\n]*: "[\x20-\x7e]*"$/.test(l)), 'every error quotes its line, unprintable bytes escaped');
  assert.ok(!p.lines.some((l) => /^r 1 /.test(l)), 'nothing from a malformed line was probed');
  assert.equal(await p.end(), 0, 'alive until stdin closed');
});

test('a removed target is answered "d <id>" and never named after it; an id in use is replaced', async (t) => {
  const srv = await listen('127.0.0.2');
  t.after(() => { srv.server.close(); });
  const p = new Prober();
  await p.until(/^ready /);
  p.send(`a 7 127.0.0.2 ${srv.port} 50 1000 2\na 8 127.0.0.2 ${srv.port} 50 1000 2\n`);
  await p.until(/^r 7 ok$/);
  p.send('d 7\n');
  await p.until(/^d 7$/);
  const acked = p.lines.indexOf('d 7');
  // Replaced: the same id, now a closed port.
  p.send(`a 8 127.0.0.3 ${srv.port} 50 1000 2\n`);
  await p.until(/^r 8 refused$/);
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(!p.lines.slice(acked).some((l) => l.startsWith('r 7 ')), 'no result for 7 after its d');
  const after = p.lines.slice(p.lines.indexOf('r 8 refused'));
  assert.ok(after.filter((l) => l.startsWith('r 8 ')).every((l) => l === 'r 8 refused'), 'the replaced target only');
  assert.equal(await p.end(), 0);
});

test('an endpoint that stays up: oks reported only until rise in a row, the rest as counts; after a failure, oks again', async (t) => {
  let srv = await listen('127.0.0.2');
  const port = srv.port;
  t.after(() => { srv.server.close(); });
  const p = new Prober();
  await p.until(/^ready /);
  const started = Date.now();
  p.send(`a 9 127.0.0.2 ${port} 50 1000 2\n`);
  await new Promise((r) => setTimeout(r, 1000));
  const results = (from: number): string[] => p.lines.slice(from).filter((l) => l.startsWith('r 9 ')).map((l) => l.split(' ')[2]!);
  const counted = (from: number): number => p.lines.slice(from).filter((l) => l.startsWith('n ')).reduce((n, l) => n + Number(l.slice(2)), 0);
  assert.ok(p.lines.every((l) => /^(ready \d+ \d+ tcp,http (io_uring|epoll)|r 9 ok|n [1-9]\d*)$/.test(l)), p.lines.join('\n'));
  assert.deepEqual(results(0), ['ok', 'ok'], 'two oks (rise) one by one, then only counted');

  // Down: every failure is reported (with the oks counted till then); up again: the first oks
  // again one by one (each resets the daemon's failure count), and only rise of them.
  srv.server.close();
  const closed = Date.now();
  await p.until(/^r 9 refused$/);
  // Every probe accounted for: ~1 s of 50 ms (±5 %, 10 ms ticks) intervals, the first at a random point of one.
  const probes = 2 + counted(0);
  assert.ok(probes >= 14 && probes <= (closed - started) / 47 + 1, `${probes} probes in ${closed - started} ms`);
  await new Promise((r) => setTimeout(r, 120));
  srv = await listen('127.0.0.2', port);
  const back = p.lines.length;
  await new Promise((r) => setTimeout(r, 600));
  const after = results(back);
  const firstOk = after.indexOf('ok');
  assert.ok(firstOk >= 0, after.join(' '));
  assert.deepEqual(after.slice(firstOk), ['ok', 'ok'], `after the failures: ${after.join(' ')}`);
  assert.ok(after.slice(0, firstOk).every((r) => r === 'refused'));
  assert.equal(srv.accepted(), 0);
  assert.equal(await p.end(), 0);
  assert.ok(counted(back) >= 5, 'later oks counted (the last of them when stdin closed)');
});
