// The daemon end to end without a kernel: the real client-node informers against the test
// API server, the real sync path, and the fake kernel. Event in → kernel state out.
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveConfig } from '../../src/compute/config.ts';
import type { Warning } from '../../src/compute/model/types.ts';
import { Daemon } from '../../src/daemon.ts';
import { silentLog } from '../../src/log.ts';
import type { SyncReport } from '../../src/sync/proxier.ts';
import { endpointSlice, seedWeb, service } from '../support/apiserver/builders.ts';
import { kubeConfigFor, waitUntil } from '../support/apiserver/client.ts';
import { start, type TestApiServer } from '../support/apiserver/index.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { FakeKernel } from '../fakes/fake-kernel.ts';

interface Rig { api: TestApiServer; kernel: FakeKernel; daemon: Daemon; clock: FakeClock; reports: SyncReport[]; invalid: Warning[]; queued: number[] }
let rig: Rig | undefined;

afterEach(async () => {
  rig?.daemon.stop();
  await rig?.api.stop();
  rig = undefined;
});

async function setup(): Promise<Rig> {
  const api = await start();
  seedWeb(api);
  const kernel = new FakeKernel();
  const clock = new FakeClock();
  const reports: SyncReport[] = [];
  const invalid: Warning[] = [];
  const queued: number[] = [];
  const daemon = new Daemon(
    { runner: kernel, sysctl: kernel.sysctl, kubeConfig: kubeConfigFor(api), clock, log: silentLog },
    {
      config: resolveConfig({ hostnameOverride: 'node-a' }, 'unused'), syncPeriodMs: 30_000, minSyncPeriodMs: 0,
      kernel: { strictArp: false, timeouts: { tcp: 0, tcpFin: 0, udp: 0 } }, families: [4, 6], dryRun: false,
    },
    { synced: (r) => { reports.push(r); }, invalid: (w) => { invalid.push(w); }, queued: () => { queued.push(clock.now()); } },
  );
  rig = { api, kernel, daemon, clock, reports, invalid, queued };
  await daemon.start();
  return rig;
}

const table = (k: FakeKernel): string => k.admin(['ipvsadm', '-Sn']);
const has = (k: FakeKernel, line: string) => (): boolean => table(k).split('\n').includes(line);

test('no sync before the lists; then the cluster is programmed, with kube-proxy\'s sysctls', async () => {
  const { kernel, reports } = await setup();
  assert.equal(reports[0]?.full, true);
  assert.ok(has(kernel, '-a -t 10.96.0.10:80 -r 10.244.1.5:8080 -m -w 1')());
  assert.equal(kernel.proc.get('net/ipv4/vs/conntrack'), '1');
  assert.match(kernel.admin(['ip', '-o', 'addr', 'show', 'dev', 'kube-ipvs0']), /10\.96\.0\.10\/32/);
});

test('an endpoint change is programmed incrementally: one ipvsadm process, no kernel read', async () => {
  const { api, kernel, reports } = await setup();
  const before = kernel.callCount();
  api.update(endpointSlice('default', 'web-1', 'web', ['10.244.1.5', '10.244.2.6']));
  await waitUntil(has(kernel, '-a -t 10.96.0.10:80 -r 10.244.2.6:8080 -m -w 1'), 'new endpoint programmed');
  await waitUntil(() => reports.length >= 2, 'sync reported');
  assert.equal(kernel.callCount() - before, 1);
  assert.equal(reports.at(-1)?.rendered, 1, 'only the changed Service was re-rendered');
});

test('a dropped watch resumes and nothing made meanwhile is missed', async () => {
  const { api, kernel } = await setup();
  api.pause();
  api.dropWatches();
  api.create(service('default', 'api', {}, '10.96.0.11'));
  api.resume();
  await waitUntil(has(kernel, '-A -t 10.96.0.11:80 -s rr'), 'service created while disconnected');
});

test('a 410 relist reports vanished objects as deletes; a reset socket restarts the informer', async () => {
  const { api, kernel } = await setup();
  api.pause();
  api.dropWatches();
  api.expireHistory();
  api.delete({ apiVersion: 'v1', kind: 'Service', namespace: 'default', name: 'web' });
  api.resume();
  await waitUntil(() => !table(kernel).includes('10.96.0.10:80'), 'deleted service removed after relist', 5000);
  api.resetWatches();
  api.create(service('default', 'late', {}, '10.96.0.12'));
  await waitUntil(has(kernel, '-A -t 10.96.0.12:80 -s rr'), 'change after a socket reset', 8000);
});

test('watches ask for bookmarks (a quiet watch resumes without a relist)', async () => {
  const { api } = await setup();
  await waitUntil(() => api.requests('watch') >= 3, 'the three watches');
  assert.equal(api.requests('watch', 'allowWatchBookmarks=true'), api.requests('watch'));
});

test('stop() while the informers reconnect leaves no watch open (the process can exit)', async () => {
  const { api, daemon } = await setup();
  api.pause();
  api.dropWatches(); // each informer reconnects; its watch requests wait in the paused server
  await waitUntil(() => api.requests('watch') >= 6, 'the informers to ask for their watches again');
  daemon.stop();
  api.resume();
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(api.openWatches, 0);
});

test('a malformed Service is reported naming the field; the others are programmed', async () => {
  const { api, kernel, invalid } = await setup();
  const bad = service('default', 'bad', {}, '10.96.0.13');
  api.create({ ...bad, spec: { ...(bad.spec as object), ports: [{ name: 'http', port: 70000 }] } });
  api.create(service('default', 'good', {}, '10.96.0.14'));
  await waitUntil(has(kernel, '-A -t 10.96.0.14:80 -s rr'), 'good service programmed');
  await waitUntil(() => invalid.some((w) => w.object === 'default/bad'), 'bad service reported');
  assert.equal(invalid.find((w) => w.object === 'default/bad')?.field, 'spec.ports[0].port');
  assert.ok(!table(kernel).includes('10.96.0.13'));
});

test('a failed batch is retried soon after, and converges', async () => {
  const { api, kernel, clock, reports } = await setup();
  kernel.failLine('ipvsadm', '10.96.0.15', 'Memory allocation problem');
  api.create(service('default', 'flaky', {}, '10.96.0.15'));
  await waitUntil(() => reports.some((r) => r.error !== undefined), 'failure reported');
  assert.ok(!has(kernel, '-A -t 10.96.0.15:80 -s rr')());
  await clock.advance(1000); // the first retry comes after 1 s, not a sync period
  await waitUntil(has(kernel, '-A -t 10.96.0.15:80 -s rr'), 'retried and applied');
  assert.equal(reports.at(-1)?.full, true, 'the retry re-read the kernel');
});
