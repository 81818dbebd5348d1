// End to end, the daemon's life on a node (make e2e): the real `kube-ipvs` process with
// --ipvs-scheduler=wrr against the test API server and this VM's kernel — kill -9 and restart
// under traffic, drift repaired behind its back, API server faults, fixed iptables rules with
// 5 and 500 Services, and --cleanup-ipvs at the end. A user's own IPVS service, set and
// iptables rules made before it all must survive everything.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { KubeObject, TestApiServer } from '../support/apiserver/index.ts';
import { addNodeAddress, sh, stopBackend, type Backend } from './lab.ts';
import {
  KeepAlive, KubeIpvs, NODE_IP, NS, be, fetchName, ipvsSave, metric, realServers, rules, runOnce, sleep, slice,
  startApi, startBackendOnce, svc, tryRun, waitFor,
} from './e2e-lab.ts';

let api: TestApiServer;
let daemon: KubeIpvs;
let backends: Backend[] = [];
let atStart = '';

const USER_VS = ['-A -t 172.16.0.1:80 -s rr', '-a -t 172.16.0.1:80 -r 10.244.31.5:8080 -m -w 1'];
const BUILTIN = new Set(['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING']);

/** Rules and non-built-in chains of every iptables backend and family, and the ipset names. */
function netfilter(): string {
  const out: string[] = [];
  for (const bin of ['iptables-nft', 'ip6tables-nft', 'iptables-legacy', 'ip6tables-legacy']) {
    for (const l of sh(`${bin}-save`).split('\n')) {
      if (l.startsWith('-A ') || (l.startsWith(':') && !BUILTIN.has(l.slice(1).split(' ')[0] ?? ''))) out.push(`${bin}: ${l.replace(/\[\d+:\d+\]$/, '')}`);
    }
  }
  out.push(...sh('ipset', 'list', '-n').split('\n').filter((l) => l !== '').sort().map((s) => `set ${s}`));
  return out.join('\n');
}

/** The daemon's part of `ipvsadm -Sn` for the f* Services (10.96.1.4x): virtual server → backends. */
const fTable = (): string[] => ipvsSave().filter((l) => l.includes(' 10.96.1.4'));
function expectTable(want: Record<string, readonly number[]>): string[] {
  return Object.entries(want).flatMap(([vs, bes]) => [`-A -t ${vs} -s wrr`, ...bes.map((n) => `-a -t ${vs} -r ${be(n)}:8080 -m -w 1`)]).sort();
}

before(async () => {
  try {
    addNodeAddress(NODE_IP);
    // The user's own things, there before kube-ipvs.
    sh('ipvsadm', '-A', '-t', '172.16.0.1:80', '-s', 'rr');
    sh('ipvsadm', '-a', '-t', '172.16.0.1:80', '-r', '10.244.31.5:8080', '-m');
    sh('ipset', 'create', 'user-set', 'hash:ip');
    sh('iptables', '-N', 'USER-CHAIN');
    sh('iptables', '-A', 'USER-CHAIN', '-j', 'RETURN');
    sh('iptables', '-A', 'INPUT', '-s', '192.0.2.99/32', '-j', 'USER-CHAIN');
    sh('ip6tables', '-A', 'INPUT', '-s', '2001:db8::99/128', '-j', 'ACCEPT');
    atStart = netfilter();
    api = await startApi();
    const objects = [
      svc('app', '10.96.1.10'), slice('app', [be(31), be(32)]),
      svc('drift-a', '10.96.1.20'), slice('drift-a', [be(33)]),
      svc('drift-b', '10.96.1.21'), slice('drift-b', [be(33)]),
      svc('f1', '10.96.1.40'), slice('f1', [be(31)]),
      svc('f2', '10.96.1.41'), slice('f2', [be(32)]),
    ];
    for (const o of objects) api.create(o);
    daemon = new KubeIpvs(api, ['--ipvs-scheduler=wrr', '--ipvs-sync-period=5s']);
    daemon.start();
    backends = await Promise.all([31, 32, 33].map(startBackendOnce)); // while the daemon loads
    await daemon.synced();
  } catch (e) {
    console.error('e2e setup failed:', e);
    throw e;
  }
});

after(async () => {
  if (daemon.running) await daemon.stop();
  await api.stop();
  backends.forEach(stopBackend);
});

test('--ipvs-scheduler=wrr is every Service\'s scheduler; a user\'s own service is left alone', async () => {
  const table = ipvsSave();
  const mine = table.filter((l) => l.startsWith('-A ') && l.includes(' 10.96.'));
  assert.equal(mine.length, 5, table.join('\n'));
  for (const l of mine) assert.match(l, / -s wrr$/);
  for (const l of USER_VS) assert.ok(table.includes(l), l);
  assert.match(sh('ipvsadm', '-Ln', '-t', '10.96.1.10:80'), /^TCP\s+10\.96\.1\.10:80 wrr$/m);
  assert.deepEqual(new Set([await fetchName('http://10.96.1.10/'), await fetchName('http://10.96.1.10/')]), new Set(['be31', 'be32']));
});

/** Per virtual server and real server: connections scheduled so far (zeroed if re-created). */
function conns(): Map<string, number> {
  const out = new Map<string, number>();
  let vs = '';
  for (const l of sh('ipvsadm', '-Ln', '--stats', '--exact').split('\n')) {
    const v = /^(TCP|UDP)\s+(\S+)\s+(\d+)/.exec(l);
    if (v !== null) { vs = v[2]!; out.set(vs, Number(v[3])); }
    const r = /^\s+-> (\d\S+)\s+(\d+)/.exec(l);
    if (r !== null) out.set(`${vs} -> ${r[1]!}`, Number(r[2]));
  }
  return out;
}

const connEntry = (port: number): string | undefined =>
  sh('ipvsadm', '-Lnc').split('\n').find((l) => l.includes('ESTABLISHED') && l.includes(`:${port} `) && l.includes('10.96.1.10:80'));

test('kill -9 and restart under traffic: nothing removed or re-added, no connection broken, weights back to 1', async (t) => {
  const kept = new KeepAlive('http://10.96.1.10/');
  const keptOn = await kept.get();
  const run = { stop: false };
  let fresh = 0;
  const failures: string[] = [];
  const traffic = (async () => {
    while (!run.stop) {
      const r = await fetchName('http://10.96.1.10/');
      fresh++;
      if (!/^be3[12]$/.test(r)) failures.push(`new connection: ${r}`);
      await sleep(100);
    }
  })();
  const keptAlive = (async () => {
    while (!run.stop) {
      const r = await kept.get().catch((e: unknown) => `error: ${String(e)}`);
      if (r !== keptOn) failures.push(`kept-alive connection: ${r}`);
      await sleep(300);
    }
  })();
  const monitor = spawn('ip', ['-o', 'monitor', 'address'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let addressEvents = '';
  monitor.stdout.setEncoding('utf8').on('data', (c: string) => { addressEvents += c; });
  const zeroed = `${be(32)}:8080`;
  try {
    await sleep(1000);
    const entry = connEntry(kept.localPort);
    assert.ok(entry !== undefined, `the kept-alive connection (port ${kept.localPort}) has an IPVS entry:\n${sh('ipvsadm', '-Lnc')}`);
    assert.deepEqual(await daemon.stop('SIGKILL'), { code: null, signal: 'SIGKILL' });
    // Behind its back while it is down: one real server at weight 0 (kube-proxy #92019).
    sh('ipvsadm', '-e', '-t', '10.96.1.10:80', '-r', zeroed, '-m', '-w', '0');
    const tableBefore = ipvsSave();
    const connsBefore = conns();
    const t0 = Date.now();
    daemon.start();
    await daemon.synced();
    const restarted = Date.now() - t0;
    await waitFor(() => realServers('10.96.1.10:80')?.find((r) => r.addr === zeroed)?.weight, (w) => w === 1, 'weight reset to 1', 10_000);
    await sleep(1500); // more traffic through the restarted daemon's first syncs
    run.stop = true;
    await Promise.all([traffic, keptAlive]);
    assert.deepEqual(ipvsSave(), tableBefore.map((l) => (l === `-a -t 10.96.1.10:80 -r ${zeroed} -m -w 0` ? `-a -t 10.96.1.10:80 -r ${zeroed} -m -w 1` : l)),
      'the same table, but the weight');
    const connsAfter = conns();
    for (const [k, n] of connsBefore) assert.ok((connsAfter.get(k) ?? -1) >= n, `${k}: IPVS counters kept (not re-created): ${n} → ${connsAfter.get(k)}`);
    assert.equal(addressEvents.split('\n').filter((l) => l.includes('kube-ipvs0')).join('\n'), '', 'no kube-ipvs0 address removed or added');
    assert.deepEqual(failures, []);
    assert.equal(await kept.get(), keptOn, 'the kept-alive connection still works');
    assert.ok(connEntry(kept.localPort) !== undefined, 'its IPVS connection entry persists');
    t.diagnostic(`restart to first full sync ${restarted} ms; ${fresh} new connections meanwhile, none failed`);
  } finally {
    run.stop = true;
    await Promise.all([traffic, keptAlive]);
    monitor.kill();
    kept.close();
    if (!daemon.running) { daemon.start(); await daemon.synced(); } // for the next tests
  }
});

test('drift: a virtual server and an ipset member deleted, a real server hand-set to weight 0, behind its back, come back at the next full resync, counted', async (t) => {
  // Several periodic resyncs (5 s) have run since the last change: they read the kernel's
  // blocks against recorded digests, so this drift is found in the blocks it changed.
  const repairsBefore = await metric('kubeipvs_drift_repairs_total');
  sh('ipvsadm', '-D', '-t', '10.96.1.20:80');
  sh('ipset', 'del', 'KUBE-CLUSTER-IP', '10.96.1.21,tcp:80');
  sh('ipvsadm', '-e', '-t', '10.96.1.21:80', '-r', `${be(33)}:8080`, '-m', '-w', '0');
  assert.match(await fetchName('http://10.96.1.20/'), /^error/, 'the deleted virtual server carries nothing');
  const t0 = Date.now();
  await waitFor(() => ipvsSave(), (s) => s.includes('-A -t 10.96.1.20:80 -s wrr') && s.includes(`-a -t 10.96.1.20:80 -r ${be(33)}:8080 -m -w 1`), 'the virtual server back', 20_000);
  await waitFor(() => tryRun('ipset', 'test', 'KUBE-CLUSTER-IP', '10.96.1.21,tcp:80'), (r) => r !== undefined, 'the set member back', 20_000);
  await waitFor(() => ipvsSave(), (s) => s.includes(`-a -t 10.96.1.21:80 -r ${be(33)}:8080 -m -w 1`), 'the real server back at weight 1', 20_000);
  const repairs = await waitFor(() => metric('kubeipvs_drift_repairs_total'), (n) => n >= repairsBefore + 3, 'kubeipvs_drift_repairs_total to count them', 10_000);
  assert.equal(await fetchName('http://10.96.1.20/'), 'be33');
  t.diagnostic(`repaired within ${Date.now() - t0} ms; kubeipvs_drift_repairs_total ${repairsBefore} → ${repairs}`);
});

const ref = (kind: string, name: string) => ({ kind, namespace: NS, name });

/** Waits until Services, EndpointSlices and the Node are all watched (after a 410 client-node reconnects after 1 s). */
const watching = (): Promise<number> => waitFor(() => api.openWatches, (n) => n >= 3, 'the three informers watching', 30_000, 100);

/** Runs `changes` while the API server holds new requests, after `fault` hit the open watches. */
async function whilePaused(fault: () => void, changes: () => void): Promise<void> {
  await watching();
  api.pause();
  try {
    fault();
    changes();
  } finally {
    api.resume();
  }
}

test('API faults: a dropped watch — changes made meanwhile arrive', async () => {
  await whilePaused(() => { assert.ok(api.dropWatches() >= 3); }, () => {
    api.apply(slice('f1', [be(32)]));
    api.create(svc('f3', '10.96.1.42'));
    api.create(slice('f3', [be(33)]));
  });
  await waitFor(fTable, (s) => s.join() === expectTable({ '10.96.1.40:80': [32], '10.96.1.41:80': [32], '10.96.1.42:80': [33] }).join(), 'the changes', 20_000);
});

test('API faults: 410 Gone — the relist brings updates and deletes', async () => {
  const lists = api.requests('list');
  await whilePaused(() => { assert.ok(api.dropWatches() >= 3); }, () => {
    api.delete(ref('Service', 'f3'));
    api.delete(ref('EndpointSlice', 'f3-1'));
    api.apply(svc('f2', '10.96.1.41', { ports: [{ name: 'http', protocol: 'TCP', port: 81, targetPort: 8080 }] }));
    api.expireHistory();
  });
  await waitFor(fTable, (s) => s.join() === expectTable({ '10.96.1.40:80': [32], '10.96.1.41:81': [32] }).join(), 'the changes', 20_000);
  assert.ok(api.requests('list') > lists, 'relisted');
});

test('API faults: watch sockets reset — the informers restart and catch up', async () => {
  await whilePaused(() => { assert.ok(api.resetWatches() >= 3); }, () => {
    api.apply(slice('f1', [be(31)]));
  });
  await waitFor(fTable, (s) => s.join() === expectTable({ '10.96.1.40:80': [31], '10.96.1.41:81': [32] }).join(), 'the change', 20_000);
});

test('API faults: the API server restarts — changes made while it was down arrive', async (t) => {
  const port = Number(new URL(api.url).port);
  await watching();
  await api.stop();
  api.create(svc('f4', '10.96.1.43'));
  api.create(slice('f4', [be(31)]));
  api.delete(ref('Service', 'f1'));
  api.delete(ref('EndpointSlice', 'f1-1'));
  await sleep(2000);
  await api.listen(port);
  const t0 = Date.now();
  await waitFor(fTable, (s) => s.join() === expectTable({ '10.96.1.41:81': [32], '10.96.1.43:80': [31] }).join(), 'the changes', 45_000);
  t.diagnostic(`caught up ${Date.now() - t0} ms after the API server came back`);
  assert.equal(await fetchName('http://10.96.1.43/'), 'be31');
});

/** The i-th of the many Services: mostly ClusterIP, some NodePort, externalIPs, LoadBalancer, UDP. */
function many(i: number): KubeObject[] {
  const name = `many-${i}`;
  const ip = `10.97.${i >> 8}.${i & 255}`;
  const k = Math.floor(i / 50);
  const tcp = { name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 };
  const spec: Record<string, unknown> = [
    {},
    { type: 'NodePort', ports: [{ ...tcp, nodePort: 31000 + k }] },
    { externalIPs: [`203.0.113.${100 + k}`] },
    { type: 'LoadBalancer', ports: [{ ...tcp, nodePort: 31100 + k }] },
    { ports: [{ name: 'dns', protocol: 'UDP', port: 53, targetPort: 5353 }] },
  ][i % 50] ?? {};
  const udp = i % 50 === 4;
  return [
    svc(name, ip, spec, i % 50 === 3 ? { lbIps: [`198.51.100.${100 + k}`] } : {}),
    slice(name, [be(33)], udp ? [{ name: 'dns', protocol: 'UDP', port: 5353 }] : [{ name: 'http', port: 8080 }]),
  ];
}

test('fixed rules: as many iptables rules with 500 Services as with 5', async (t) => {
  // kube-proxy writes a rule for some sets only while they are non-empty: make the 5 Services
  // of every kind the 500 are of, so only the number differs.
  const tcp = (nodePort: number) => ({ ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080, nodePort }] });
  api.apply(svc('drift-a', '10.96.1.20', { type: 'NodePort', ...tcp(30090) }));
  api.apply(svc('drift-b', '10.96.1.21', { externalIPs: ['203.0.113.90'] }));
  api.apply(svc('f2', '10.96.1.41', { type: 'LoadBalancer', ...tcp(30091) }, { lbIps: ['198.51.100.90'] }));
  api.apply(svc('f4', '10.96.1.43', { ports: [{ name: 'dns', protocol: 'UDP', port: 53, targetPort: 5353 }] }));
  api.apply(slice('f4', [be(31)], [{ name: 'dns', protocol: 'UDP', port: 5353 }]));
  await waitFor(() => ipvsSave().join('\n'), (s) => ['-A -t 192.168.1.10:30090', '-A -t 203.0.113.90:80', '-A -t 198.51.100.90:80', '-A -u 10.96.1.43:53'].every((x) => s.includes(x)),
    'the 5 Services of every kind', 20_000);
  await sleep(1000); // the sets and rules follow in the same sync
  assert.equal(api.list('Service').length, 5);
  const with5 = rules();
  const t0 = Date.now();
  for (let i = 1; i <= 495; i++) for (const o of many(i)) api.create(o);
  const clusterVs = (): number => ipvsSave().filter((l) => /^-A -[tu] 10\.97\./.test(l)).length;
  await waitFor(clusterVs, (n) => n === 495, 'the 495 new virtual servers', 240_000, 1000);
  await waitFor(() => /^Number of entries: (\d+)$/m.exec(sh('ipset', 'list', '-t', 'KUBE-CLUSTER-IP'))?.[1], (n) => n === '500', 'the KUBE-CLUSTER-IP set filled', 60_000, 1000);
  const programmed = Date.now() - t0;
  const with500 = rules();
  assert.deepEqual(with500.filter((r) => !with5.includes(r)), [], 'rules added');
  assert.deepEqual(with5.filter((r) => !with500.includes(r)), [], 'rules removed');
  assert.equal(with500.length, with5.length, 'iptables + ip6tables -A rules');
  assert.equal(await fetchName('http://10.97.1.200/'), 'be33');
  t.diagnostic(`${with5.length} rules with 5 and with 500 Services; 495 Services (${ipvsSave().length} ipvsadm -Sn lines) programmed in ${programmed} ms`);
});

test('SIGTERM leaves the kernel; --cleanup-ipvs removes all it made and nothing else; a second run is a no-op', async (t) => {
  const table = ipvsSave();
  assert.deepEqual(await daemon.stop('SIGTERM'), { code: 0, signal: null }, daemon.logTail());
  assert.deepEqual(ipvsSave(), table, 'SIGTERM changes nothing');
  let t0 = Date.now();
  const first = runOnce('--cleanup-ipvs');
  const took = Date.now() - t0;
  assert.equal(first.code, 0, `signal ${String(first.signal)}; stderr:\n${first.stderr}`);
  assert.deepEqual(ipvsSave(), USER_VS, 'only the user\'s IPVS service is left');
  assert.equal(netfilter(), atStart, 'iptables (nft and legacy, v4 and v6) and ipsets as at the start');
  assert.equal(tryRun('ip', 'link', 'show', 'kube-ipvs0'), undefined, 'kube-ipvs0 is gone');
  t0 = Date.now();
  const second = runOnce('--cleanup-ipvs');
  assert.equal(second.code, 0, `signal ${String(second.signal)}; stderr:\n${second.stderr}`);
  assert.match(second.stderr, /"nothingToDo":true/);
  assert.deepEqual(ipvsSave(), USER_VS);
  assert.equal(netfilter(), atStart);
  t.diagnostic(`cleanup of ${table.length} ipvsadm lines ${took} ms; second run ${Date.now() - t0} ms`);
});
