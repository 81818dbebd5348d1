// Runs inside the VM (make e2e): the real dataplane (execa, real tools) against a real IPVS
// kernel, with real traffic from the node to backends in network namespaces.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import { Dataplane } from '../../src/apply/dataplane.ts';
import { execaRunner } from '../../src/apply/exec.ts';
import { ensureKernelSettings } from '../../src/apply/settings.ts';
import { procSysFs } from '../../src/apply/sysctl.ts';
import type { DesiredState } from '../../src/compute/model/desired.ts';
import { silentLog } from '../../src/log.ts';
import { compute, ep, makeService, makeSlice } from '../compute/builders.ts';
import { addNodeAddress, eventually, get, sh, startBackend, stopBackend, udpQuery, type Backend } from './lab.ts';

const NODE_IP = '192.168.1.10';
let backends: Backend[] = [];
const dp = new Dataplane({ runner: execaRunner, families: [4, 6], excludeCidrs: [], log: silentLog });

function desired(web: number[], dns: number[] = [], hold: number[] = []): DesiredState {
  const services = [
    makeService('d', 'web', { type: 'NodePort', clusterIP: '10.96.0.20', ports: [{ name: 'http', port: 80, nodePort: 30080 }] }),
    makeService('d', 'dns', { clusterIP: '10.96.0.53', ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] }),
    makeService('d', 'hold', { clusterIP: '10.96.0.30', ports: [{ name: 'http', port: 80 }] }),
  ];
  const endpointSlices = [
    makeSlice('d', 'web', web.map((n) => ep(`10.244.${n}.5`)), [{ name: 'http', port: 8080 }]),
    makeSlice('d', 'dns', dns.map((n) => ep(`10.244.${n}.5`)), [{ name: 'dns', port: 5353, protocol: 'UDP' }]),
    makeSlice('d', 'hold', hold.map((n) => ep(`10.244.${n}.5`)), [{ name: 'http', port: 8080 }]),
  ];
  return compute({ services, endpointSlices }, { nodeAddresses: [NODE_IP], clusterCidr: '10.244.0.0/16' }).desired;
}

before(async () => {
  try {
    addNodeAddress(NODE_IP);
    backends = await Promise.all([1, 2, 3, 4, 5].map(startBackend));
    await ensureKernelSettings(execaRunner, procSysFs(), { strictArp: false, timeouts: { tcp: 0, tcpFin: 0, udp: 0 } });
  } catch (e) {
    console.error('lab setup failed:', e); // node:test reports a failed hook without its error
    throw e;
  }
});

after(() => { backends.forEach(stopBackend); });

/** `n` requests with curl from the node's root namespace, each on a new connection. */
const names = (url: string, n: number): string[] => Array.from({ length: n }, () => sh('curl', '-fsS', '-m', '5', url));

test('ClusterIP and NodePort traffic from the node reaches the backends in turn (rr)', async () => {
  const r = await dp.sync(desired([1, 2]), { full: true });
  assert.ok(r.changes.ipvs > 0 && r.changes.addresses > 0 && r.changes.iptables === 2);
  for (const url of ['http://10.96.0.20/', `http://${NODE_IP}:30080/`]) {
    const got = names(url, 4);
    assert.deepEqual(new Set(got), new Set(['be1', 'be2']), `${url}: ${got.join(' ')}`);
    assert.notEqual(got[0], got[1]);
    assert.equal(got[0], got[2]);
  }
  // kube-ipvs0 holds the VIPs; iptables has our chains and each jump once.
  assert.match(sh('ip', '-o', 'addr', 'show', 'dev', 'kube-ipvs0'), /10\.96\.0\.20\/32/);
  const nat = sh('iptables-save', '-t', 'nat');
  assert.equal(nat.split('\n').filter((l) => l === '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES').length, 1);
  // A second full sync of the same state changes nothing.
  const again = await dp.sync(desired([1, 2]), { full: true });
  assert.deepEqual(again.changes, { ipvs: 0, ipset: 0, iptables: 0, addresses: 0 });
});

test('scaling follows within one sync: a new backend gets traffic, a removed one none', async () => {
  await dp.sync(desired([1, 2, 3]), { full: false });
  assert.deepEqual(new Set(names('http://10.96.0.20/', 6)), new Set(['be1', 'be2', 'be3']));
  await dp.sync(desired([3]), { full: false });
  // be1/be2 had only closed connections: deleted at once, or drained until those expire.
  assert.deepEqual(new Set(names('http://10.96.0.20/', 4)), new Set(['be3']));
});

test('a removed backend keeps its live TCP connection (weight 0) and goes once it closes', async () => {
  // Fresh backends 4 and 5: closed connections of earlier tests (TIME_WAIT, 2 minutes in
  // IPVS) would count as inactive connections and hold the drain.
  await dp.sync(desired([3], [], [4, 5]), { full: false });
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const held = await get('http://10.96.0.30/', agent); // this socket is now pinned to one backend
  const other = held === 'be4' ? 5 : 4;
  const heldServer = `10.244.${held.slice(2)}.5:8080`;
  await dp.sync(desired([3], [], [other]), { full: false });
  assert.match(sh('ipvsadm', '-Ln', '-t', '10.96.0.30:80'), new RegExp(`${heldServer.replaceAll('.', '\\.')}\\s+Masq\\s+0\\s+1\\s`), 'weight 0, one active connection');
  assert.equal(await get('http://10.96.0.30/', agent), held, 'the established connection still reaches its backend');
  assert.deepEqual(new Set(names('http://10.96.0.30/', 3)), new Set([`be${other}`]), 'new connections avoid it');
  assert.equal(await dp.checkDrains(desired([3], [], [other])), 0, 'not while the connection is open');
  await get('http://10.96.0.30/reset', agent).catch(() => 'reset');
  agent.destroy();
  const deleted = await eventually(() => dp.checkDrains(desired([3], [], [other])), (n) => n === 1, 60_000);
  assert.equal(deleted, 1);
  assert.ok(!sh('ipvsadm', '-Ln', '-t', '10.96.0.30:80').includes(heldServer), 'deleted once its connections ended');
});

test('UDP: after the backend is replaced, the next query from the same client reaches the new one', async () => {
  await dp.sync(desired([1], [1], [4]), { full: false });
  assert.equal(await udpQuery('10.96.0.53', 53, 40_053), 'be1');
  assert.equal(await udpQuery('10.96.0.53', 53, 40_053), 'be1');
  assert.match(sh('conntrack', '-L', '-p', 'udp'), /src=10\.244\.1\.5 /, 'the flow to be1 is tracked');
  // The dataplane deletes flows to removed UDP endpoints (conntrack -D); kernels >= 5.9 with
  // expire_nodest_conn=1 may already have expired them when the real server went.
  await dp.sync(desired([1], [2], [4]), { full: false });
  assert.doesNotMatch(sh('conntrack', '-L', '-p', 'udp'), /src=10\.244\.1\.5 /, 'no flow to the old backend is left');
  assert.equal(await udpQuery('10.96.0.53', 53, 40_053), 'be2');
});

test('deleting every Service removes its virtual servers, addresses and set members', async () => {
  const empty = compute({}, { nodeAddresses: [NODE_IP] }).desired;
  await dp.sync(empty, { full: true });
  assert.equal(sh('ipvsadm', '-Sn'), '');
  assert.doesNotMatch(sh('ip', '-o', 'addr', 'show', 'dev', 'kube-ipvs0'), /10\.96\./);
  assert.doesNotMatch(sh('ipset', 'save'), /^add /m);
});
