// Health-check results through the normal sync path, on the fake kernel: an endpoint held down
// goes to weight 0 in an incremental sync, a full resync repairs a weight changed behind our
// back, it comes back at weight 1, and all of a port down fails open.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dataplane } from '../../src/apply/dataplane.ts';
import { resolveConfig } from '../../src/compute/config.ts';
import { parseIp, type Ip } from '../../src/compute/net/ip.ts';
import { silentLog } from '../../src/log.ts';
import { ClusterState } from '../../src/observe/cluster-state.ts';
import { HealthChecker } from '../../src/observe/health-checker.ts';
import { Proxier, type SyncReport } from '../../src/sync/proxier.ts';
import { FakeKernel } from '../fakes/fake-kernel.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { prng } from '../support/prng.ts';
import { ep, makeService, makeSlice } from '../compute/builders.ts';

const HC = 'ipvs.kube-ipvs.io/health-check';

function setup(annotations: Record<string, string>) {
  const kernel = new FakeKernel();
  const clock = new FakeClock();
  const cluster = new ClusterState();
  const failing = new Set<string>();
  const probed = new Set<string>();
  let wanted = 0;
  const checker = new HealthChecker({
    clock, log: silentLog, random: prng(3), changed: () => { wanted++; },
    probe: (r) => { probed.add(`${r.ip.text}:${r.port}`); return Promise.resolve(!failing.has(r.ip.text)); },
  });
  const reports: SyncReport[] = [];
  const node = parseIp('192.168.1.10') as Ip;
  const proxier = new Proxier({
    config: resolveConfig({ hostnameOverride: 'node-a' }, 'test'), families: [4], cluster, clock, log: silentLog,
    dataplane: new Dataplane({ runner: kernel, families: [4], excludeCidrs: [], log: silentLog }),
    readNodeAddresses: () => Promise.resolve([node]), hooks: { synced: (r) => { reports.push(r); }, invalid: () => undefined },
    retryAfter: () => undefined, health: checker,
  });
  cluster.setService('shop/web', makeService('shop', 'web', { clusterIP: '10.96.0.20', ports: [{ name: 'http', port: 80 }] },
    { metadata: { namespace: 'shop', name: 'web', annotations } }));
  cluster.setSlice('shop/web-a', makeSlice('shop', 'web', [ep('10.244.1.5'), ep('10.244.2.6'), ep('10.244.3.7', { ready: false, serving: true })], [{ name: 'http', port: 8080 }]));
  const weights = (): string[] => kernel.admin(['ipvsadm', '-Sn']).split('\n').filter((l) => l.startsWith('-a')).map((l) => l.replace(/^.* -r /, '')).sort();
  return { kernel, clock, checker, proxier, failing, probed, reports, weights, wanted: () => wanted };
}

test('an endpoint failing its checks goes to weight 0 through an incremental sync, is repaired on drift, and comes back', async () => {
  const s = setup({ [HC]: 'tcp' });
  await s.proxier.sync('periodic');
  await s.clock.advance(1500);
  assert.deepEqual([...s.probed].sort(), ['10.244.1.5:8080', '10.244.2.6:8080'], 'ready endpoints only');
  s.failing.add('10.244.1.5');
  await s.clock.advance(3100);
  assert.equal(s.wanted(), 1, 'the change asked for a sync');
  await s.proxier.sync('requested');
  assert.equal(s.reports.at(-1)?.full, false, 'incremental');
  assert.equal(s.reports.at(-1)?.result?.changes.ipvs, 1, 'one real server edited');
  assert.deepEqual(s.weights(), ['10.244.1.5:8080 -m -w 0', '10.244.2.6:8080 -m -w 1']);
  // Someone puts it back at weight 1: the periodic resync repairs it (it is desired state).
  s.kernel.admin(['ipvsadm', '-e', '-t', '10.96.0.20:80', '-r', '10.244.1.5:8080', '-m', '-w', '1']);
  await s.proxier.sync('periodic');
  assert.equal(s.reports.at(-1)?.result?.repairs, 1);
  assert.deepEqual(s.weights()[0], '10.244.1.5:8080 -m -w 0');
  s.failing.clear();
  await s.clock.advance(2100);
  await s.proxier.sync('requested');
  assert.deepEqual(s.weights(), ['10.244.1.5:8080 -m -w 1', '10.244.2.6:8080 -m -w 1']);
  s.checker.stop();
});

test('every probed endpoint of the port failing: fail open, all stay at weight 1', async () => {
  const s = setup({ [HC]: 'tcp' });
  await s.proxier.sync('periodic');
  s.failing.add('10.244.1.5');
  s.failing.add('10.244.2.6');
  await s.clock.advance(4000);
  assert.equal(s.checker.down('shop/web')?.size, 2);
  await s.proxier.sync('requested');
  // 10.244.3.7 is not ready (serving only): it is not a real server while ready ones exist.
  assert.deepEqual(s.weights(), ['10.244.1.5:8080 -m -w 1', '10.244.2.6:8080 -m -w 1']);
  s.checker.stop();
});

test('without the annotation nothing is probed and nothing changes', async () => {
  const s = setup({});
  await s.proxier.sync('periodic');
  await s.clock.advance(5000);
  assert.equal(s.probed.size, 0);
  assert.equal(s.checker.targets, 0);
});
