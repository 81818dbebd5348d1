// End to end, as a user meets it (make e2e): the real `kube-ipvs` process watching the test API
// server programs this VM's IPVS kernel, and real traffic from the node and from client network
// namespaces reaches backends in network namespaces. One daemon serves every scenario here;
// each asserts on traffic and kernel state. The drain scenario's last step (the real server
// deleted once its connection closed, up to a minute later) is awaited at the end of the file,
// so the other scenarios run meanwhile. The rules backend is iptables, or what
// KUBE_IPVS_E2E_RULES says (e2e-traffic-nftables.vmtest.ts runs this file with nftables).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { TestApiServer } from '../support/apiserver/index.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { addNodeAddress, sh, stopBackend, udpQuery, type Backend } from './lab.ts';
import {
  KeepAlive, KubeIpvs, NODE_IP, NS, addClient, be, curlFrom, fetchName, httpStatus, ipvsSave, metric, names, realServers,
  removeClient, rsAddrs, slice, startApi, startBackendOnce, svc, waitFor, type Client,
} from './e2e-lab.ts';

const RULES = process.env.KUBE_IPVS_E2E_RULES === 'nftables' ? 'nftables' : 'iptables';
let api: TestApiServer;
let daemon: KubeIpvs;
let backends: Backend[] = [];
let clients: Client[] = [];

const udp53 = { name: 'dns', protocol: 'UDP', port: 53, targetPort: 5353 } as const;
const edge = svc('edge', '10.96.0.50', {
  type: 'LoadBalancer', ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30080 }],
  externalIPs: ['203.0.113.50'], loadBalancerSourceRanges: ['172.20.1.0/24'],
}, { lbIps: ['198.51.100.7'] });
const local = svc('local', '10.96.0.60', {
  type: 'LoadBalancer', ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30081 }],
  externalTrafficPolicy: 'Local', healthCheckNodePort: 32100,
}, { lbIps: ['198.51.100.8'] });

before(async () => {
  try {
    addNodeAddress(NODE_IP);
    clients = [addClient(1), addClient(2)];
    api = await startApi();
    const objects = [
      svc('web', '10.96.0.20'), slice('web', [be(21), be(22)]),
      svc('hold', '10.96.0.30'), slice('hold', [be(24), be(25)]),
      edge, slice('edge', [be(21), be(22)]),
      svc('sticky', '10.96.0.40', { sessionAffinity: 'ClientIP' }), slice('sticky', [be(21), be(22)]),
      svc('least', '10.96.0.41', {}, { annotations: { 'ipvs.kube-ipvs.io/scheduler': 'lc' } }), slice('least', [be(21), be(22)]),
      svc('dns', '10.96.0.53', { ports: [udp53] }), slice('dns', [be(21)], [{ name: 'dns', protocol: 'UDP', port: 5353 }]),
      local, slice('local', [be(26)]),
      // Invalid Services among the good ones from the first list on.
      svc('bad-ip', '10.96.0.999'), slice('bad-ip', [be(23)]),
      svc('bad-port', '10.96.0.71', { ports: [{ name: 'http', protocol: 'TCP', port: 70000, targetPort: 8080 }] }), slice('bad-port', [be(23)]),
      svc('good', '10.96.0.72'), slice('good', [be(23)]),
    ];
    for (const o of objects) api.create(o);
    daemon = new KubeIpvs(api, ['--ipvs-sync-period=5s', '--ipvs-min-sync-period=1s', `--ipvs-rules-backend=${RULES}`]);
    // The backends start while the daemon loads (its import alone takes 10-30 s here).
    daemon.start();
    backends = await Promise.all([21, 22, 23, 24, 25, 26].map(startBackendOnce));
    await daemon.synced();
  } catch (e) {
    console.error('e2e setup failed:', e); // node:test reports a failed hook without its error
    throw e;
  }
});

after(async () => {
  const exit = await daemon.stop();
  await api.stop();
  backends.forEach(stopBackend);
  clients.forEach(removeClient);
  assert.deepEqual(exit, { code: 0, signal: null }, 'SIGTERM: exit 0');
});

test('ClusterIP, two backends, rr: requests from the node alternate between them', async () => {
  assert.ok(ipvsSave().includes('-A -t 10.96.0.20:80 -s rr'));
  assert.deepEqual(realServers('10.96.0.20:80')?.map((r) => [r.addr, r.weight]).sort(), [[`${be(21)}:8080`, 1], [`${be(22)}:8080`, 1]]);
  const got = await names('http://10.96.0.20/', 6);
  assert.deepEqual(new Set(got), new Set(['be21', 'be22']), got.join(' '));
  for (let i = 1; i < got.length; i++) assert.notEqual(got[i], got[i - 1], `alternates: ${got.join(' ')}`);
});

test('scale up and down: new connections follow within the min sync period; a removed backend gets none', async (t) => {
  let t0 = Date.now();
  api.apply(slice('web', [be(21), be(22), be(23)]));
  await waitFor(() => rsAddrs('10.96.0.20:80').length, (n) => n === 3, 'a third real server', 10_000, 50);
  const up = Date.now() - t0;
  assert.deepEqual(new Set(await names('http://10.96.0.20/', 6)), new Set(['be21', 'be22', 'be23']));
  t0 = Date.now();
  api.apply(slice('web', [be(23)]));
  // be21/be22 served closed connections (TIME_WAIT counts as inactive): weight 0 or gone.
  await waitFor(() => realServers('10.96.0.20:80') ?? [], (rs) => rs.every((r) => r.addr === `${be(23)}:8080` || r.weight === 0), 'removed backends out of rotation', 10_000, 50);
  const down = Date.now() - t0;
  const got = await names('http://10.96.0.20/', 8);
  assert.deepEqual(new Set(got), new Set(['be23']), got.join(' '));
  // A change waits at most for the sync in progress, the min sync period, and its own sync.
  // Syncs are slow under emulation on a busy machine, so the bound is taken from their mean.
  const syncMs = 1000 * (await metric('kubeproxy_sync_full_proxy_rules_duration_seconds_sum', { ip_family: 'IPv4' }))
    / (await metric('kubeproxy_sync_full_proxy_rules_duration_seconds_count', { ip_family: 'IPv4' }));
  const bound = Math.round(1000 + 2 * syncMs + 1500);
  t.diagnostic(`API write → kernel: scale up ${up} ms, scale down ${down} ms (--ipvs-min-sync-period=1s; full sync mean ${Math.round(syncMs)} ms, bound ${bound} ms)`);
  assert.ok(up < bound && down < bound, `within the min sync period plus two syncs (${bound} ms)`);
});

/** Resolves with ms from the connection's reset to the real server's deletion, or the error. */
let drained: Promise<number | Error> = Promise.resolve(new Error('the drain scenario did not run'));
let drainedServer = '';

test('graceful drain: a removed backend keeps its live connection at weight 0', async () => {
  const conn = new KeepAlive('http://10.96.0.30/');
  const held = await conn.get(); // fresh backends be24/be25: this is their only connection
  const other = held === 'be24' ? 25 : 24;
  drainedServer = `${be(held === 'be24' ? 24 : 25)}:8080`;
  api.apply(slice('hold', [be(other)]));
  const rs = await waitFor(() => realServers('10.96.0.30:80') ?? [], (r) => r.find((x) => x.addr === drainedServer)?.weight === 0, 'weight 0', 10_000, 50);
  assert.equal(rs.find((x) => x.addr === drainedServer)?.active, 1, 'its connection is active');
  assert.equal(await conn.get(), held, 'the established connection still reaches its backend');
  assert.deepEqual(new Set(await names('http://10.96.0.30/', 4)), new Set([`be${other}`]), 'new connections avoid it');
  assert.ok(rsAddrs('10.96.0.30:80').includes(drainedServer), 'not deleted while the connection is open');
  // Reset rather than close: a closed connection sits in TIME_WAIT, inactive, for 2 minutes.
  await conn.get('/reset').catch(() => 'reset');
  conn.close();
  const resetAt = Date.now();
  // The daemon checks drains on a sync at most once a minute (kube-proxy's interval).
  drained = waitFor(() => rsAddrs('10.96.0.30:80'), (a) => !a.includes(drainedServer), 'the drained real server to go', 100_000, 500)
    .then(() => Date.now() - resetAt, (e: unknown) => (e instanceof Error ? e : new Error(String(e))));
});

test('NodePort on the node address, externalIPs, and a LoadBalancer IP open only to its source ranges', async () => {
  const [allowed, other] = clients as [Client, Client];
  for (const vs of ['-A -t 192.168.1.10:30080 -s rr', '-A -t 203.0.113.50:80 -s rr', '-A -t 198.51.100.7:80 -s rr']) assert.ok(ipvsSave().includes(vs), vs);
  if (RULES === 'iptables') assert.match(sh('ipset', 'list', 'KUBE-LOAD-BALANCER-SOURCE-CIDR'), /^198\.51\.100\.7,tcp:80,172\.20\.1\.0\/24$/m);
  else assert.match(sh('nft', 'list', 'set', 'inet', 'kube-ipvs', 'load-balancer-source-cidr-v4'), /198\.51\.100\.7 \. tcp \. 80 \. 172\.20\.1\.0\/24/);
  const fromNode = await names(`http://${NODE_IP}:30080/`, 4);
  assert.deepEqual(new Set(fromNode), new Set(['be21', 'be22']), `NodePort from the node: ${fromNode.join(' ')}`);
  for (const c of [allowed, other]) {
    assert.match(curlFrom(c, `http://${NODE_IP}:30080/`), /^be2[12]$/, `NodePort from ${c.ip}`);
    assert.match(curlFrom(c, 'http://203.0.113.50/'), /^be2[12]$/, `external IP from ${c.ip}`);
  }
  assert.match(curlFrom(allowed, 'http://198.51.100.7/'), /^be2[12]$/, 'LB IP from an allowed source');
  assert.equal(curlFrom(other, 'http://198.51.100.7/', 2), 'error', 'LB IP from another source is dropped');
});

test(`rules backend ${RULES}: the rules live where the flag says, and only there`, () => {
  const nftTable = (() => { try { return sh('nft', 'list', 'table', 'inet', 'kube-ipvs'); } catch { return ''; } })();
  const chains = sh('iptables-save', '-t', 'nat').split('\n').filter((l) => l.startsWith(':KUBE-'));
  if (RULES === 'nftables') {
    assert.match(nftTable, /chain services \{/);
    assert.deepEqual(chains, []);
  } else {
    assert.equal(nftTable, '');
    assert.ok(chains.length > 0);
  }
});

test('hairpin: a backend reaching its own Service through the ClusterIP is answered (masqueraded loop-back)', () => {
  // From be21 every request to edge (be21, be22) works, those routed back to be21 itself too.
  const got = Array.from({ length: 6 }, () => sh('ip', 'netns', 'exec', 'be21', 'curl', '-fsS', '-m', '3', 'http://10.96.0.50/'));
  assert.ok(got.includes('be21'), `be21 reached itself: ${got.join(' ')}`);
  assert.ok(got.every((n) => n === 'be21' || n === 'be22'), got.join(' '));
});

test('host-service protection: a host process is not reachable on a ClusterIP, only on the node\'s own address', async () => {
  const server: ChildProcess = spawn(join(import.meta.dirname, '..', '..', 'node_modules', '.bin', 'node'),
    [join(import.meta.dirname, 'backend-server.ts'), 'host', '9099', '9098'], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve) => { server.stdout?.once('data', () => { resolve(); }); });
    const [c] = clients as [Client];
    assert.equal(curlFrom(c, `http://${NODE_IP}:9099/`), 'host', 'the host service answers on the node address');
    assert.equal(curlFrom(c, 'http://10.96.0.20:9099/', 2), 'error', 'and is rejected on a ClusterIP bound to kube-ipvs0');
    assert.match(curlFrom(c, 'http://10.96.0.20/'), /^be2[123]$/, 'the Service port itself still works');
  } finally {
    server.kill();
  }
});

test('session affinity ClientIP keeps a client on its backend; the scheduler annotation shows in ipvsadm', async () => {
  const table = ipvsSave();
  assert.ok(table.includes('-A -t 10.96.0.40:80 -s rr -p 10800'), table.join('\n'));
  assert.ok(table.includes('-A -t 10.96.0.41:80 -s lc'), 'ipvs.kube-ipvs.io/scheduler: lc');
  assert.match(sh('ipvsadm', '-Ln', '-t', '10.96.0.41:80'), /^TCP\s+10\.96\.0\.41:80 lc$/m);
  const got = await names('http://10.96.0.40/', 6);
  assert.equal(new Set(got).size, 1, `one backend for the node: ${got.join(' ')}`);
  const [c1] = clients as [Client];
  const fromClient = Array.from({ length: 4 }, () => curlFrom(c1, 'http://10.96.0.40/'));
  assert.equal(new Set(fromClient).size, 1, `one backend for ${c1.ip}: ${fromClient.join(' ')}`);
});

test('UDP: when a DNS-like service\'s backend is replaced, the next query reaches the new one', async () => {
  assert.equal(await udpQuery('10.96.0.53', 53, 40_053), 'be21');
  assert.equal(await udpQuery('10.96.0.53', 53, 40_053), 'be21');
  api.apply(slice('dns', [be(22)], [{ name: 'dns', protocol: 'UDP', port: 5353 }]));
  await waitFor(() => rsAddrs('10.96.0.53:53', 'u'), (a) => a.join() === `${be(22)}:5353`, 'the UDP real server replaced', 10_000, 50);
  assert.equal(await udpQuery('10.96.0.53', 53, 40_053), 'be22', 'the same client flow moved to the new backend');
});

test('externalTrafficPolicy Local: the health-check node port answers 200 with a local endpoint, 503 without', async () => {
  const url = `http://${NODE_IP}:32100/`;
  const ok = await waitFor(() => httpStatus(url), (r) => r.status === 200, 'health check 200');
  assert.deepEqual((JSON.parse(ok.body) as { service: unknown; localEndpoints: number }).service, { namespace: NS, name: 'local' });
  assert.equal((JSON.parse(ok.body) as { localEndpoints: number }).localEndpoints, 1);
  api.apply(slice('local', [{ ip: be(26), node: 'node-b' }]));
  const none = await waitFor(() => httpStatus(url), (r) => r.status === 503, 'health check 503', 10_000);
  assert.equal((JSON.parse(none.body) as { localEndpoints: number }).localEndpoints, 0);
});

test('bad input: invalid Services are skipped (with an Event), the good ones carry traffic', async () => {
  api.create(svc('bad-live', '10.96.0.74', { externalIPs: ['not-an-ip'] }));
  api.create(slice('bad-live', [be(23)]));
  api.create(svc('good-live', '10.96.0.73'));
  api.create(slice('good-live', [be(22)]));
  await waitFor(() => rsAddrs('10.96.0.73:80'), (a) => a.length === 1, 'good-live programmed', 10_000);
  assert.equal(await fetchName('http://10.96.0.72/'), 'be23', 'good, listed with the invalid ones');
  assert.equal(await fetchName('http://10.96.0.73/'), 'be22', 'good-live, created after them');
  assert.equal(await fetchName('http://10.96.0.20/'), 'be23', 'the others still work');
  const table = ipvsSave().join('\n');
  assert.doesNotMatch(table, /10\.96\.0\.(71|74):|10\.96\.0\.999/);
  const reasons = await waitFor(() => api.events().filter((e) => e.reason === 'InvalidService').map((e) => (e.involvedObject as { name: string }).name),
    (n) => ['bad-ip', 'bad-port', 'bad-live'].every((x) => n.includes(x)), 'InvalidService Events', 10_000);
  assert.ok(reasons.length >= 3);
  assert.equal((await httpStatus('http://127.0.0.1:10256/healthz')).status, 200, 'the daemon stays healthy');
});

test('graceful drain, end: the drained real server is deleted once its connection closed', async (t) => {
  const r = await drained;
  if (r instanceof Error) throw r;
  t.diagnostic(`${drainedServer} deleted ${Math.round(r / 1000)} s after its connection was reset`);
  const full = await metric('kubeipvs_syncs_total', { kind: 'full' });
  const incremental = await metric('kubeipvs_syncs_total', { kind: 'incremental' });
  const fullSeconds = await metric('kubeproxy_sync_full_proxy_rules_duration_seconds_sum', { ip_family: 'IPv4' });
  t.diagnostic(`${full} full syncs (mean ${Math.round((fullSeconds / full) * 1000)} ms), ${incremental} incremental`);
  assert.deepEqual(rsAddrs('10.96.0.30:80').filter((a) => a === drainedServer), []);
});
