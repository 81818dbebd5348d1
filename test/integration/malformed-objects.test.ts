// One malformed object never blocks the good ones, whichever way the API server sends it: in
// the first list, in watch events, or in the relist after a 410. The real client-node informers
// against the test API server, the real sync path, the fake kernel: what is programmed, and
// what is reported (namespace/name and field).
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveConfig } from '../../src/compute/config.ts';
import type { Warning } from '../../src/compute/model/types.ts';
import { Daemon } from '../../src/daemon.ts';
import { silentLog } from '../../src/log.ts';
import { endpointSlice, seedWeb, service } from '../support/apiserver/builders.ts';
import { kubeConfigFor, waitUntil } from '../support/apiserver/client.ts';
import { start, type KubeObject, type TestApiServer } from '../support/apiserver/index.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { FakeKernel } from '../fakes/fake-kernel.ts';

let api: TestApiServer | undefined;
let daemon: Daemon | undefined;
afterEach(async () => {
  daemon?.stop();
  await api?.stop();
  [api, daemon] = [undefined, undefined];
});

/** A valid Service with `patch` applied to its spec (or, for a slice, to the object). */
const svcWith = (name: string, ip: string, spec: Record<string, unknown>): KubeObject => {
  const s = service('default', name, {}, ip);
  return { ...s, spec: { ...(s.spec as Record<string, unknown>), ...spec } };
};
const sliceWith = (name: string, svc: string, fields: Record<string, unknown>): KubeObject =>
  ({ ...endpointSlice('default', name, svc, ['10.244.3.3']), ...fields });

/** Type-confused objects as seen on a real cluster (issue #11), and a good Service with its slice. */
function createBatch(s: TestApiServer, tag: string, ip: (n: number) => string, confusion: 'lists-with-null' | 'lists-as-objects'): void {
  if (confusion === 'lists-with-null') {
    s.create(svcWith(`${tag}-nullport`, ip(1), { ports: [null] }));
    s.create(svcWith(`${tag}-extip`, ip(2), { externalIPs: '1.2.3.4' }));
    s.create(sliceWith(`${tag}-web-bad`, 'web', { endpoints: [null, { addresses: ['10.244.9.9'] }], ports: [null] }));
  } else {
    s.create(svcWith(`${tag}-objports`, ip(1), { ports: { name: 'http', port: 80 } }));
    s.create(sliceWith(`${tag}-web-bad`, 'web', { endpoints: { addresses: ['10.244.9.9'] } }));
  }
  s.create(service('default', `${tag}-good`, {}, ip(3)));
  s.create(endpointSlice('default', `${tag}-good-1`, `${tag}-good`, ['10.244.4.4']));
}

async function startDaemon(s: TestApiServer, kernel: FakeKernel, invalid: Warning[]): Promise<Daemon> {
  daemon = new Daemon(
    { runner: kernel, sysctl: kernel.sysctl, kubeConfig: kubeConfigFor(s), clock: new FakeClock(), log: silentLog },
    {
      config: resolveConfig({ hostnameOverride: 'node-a' }, 'unused'), syncPeriodMs: 30_000, minSyncPeriodMs: 0,
      kernel: { strictArp: false, timeouts: { tcp: 0, tcpFin: 0, udp: 0 } }, families: [4], dryRun: false,
    },
    { synced: () => undefined, invalid: (w) => { invalid.push(w); }, queued: () => undefined },
  );
  await daemon.start();
  return daemon;
}

const table = (k: FakeKernel): string => k.admin(['ipvsadm', '-Sn']);
const programmed = (k: FakeKernel, line: string) => (): boolean => table(k).split('\n').includes(line);
const fields = (invalid: readonly Warning[]): string[] => [...new Set(invalid.map((w) => `${w.kind} ${w.object}: ${w.field}`))].sort();

test('malformed objects in the first list: reported by name and field, skipped; every valid one is programmed', { timeout: 20_000 }, async () => {
  api = await start();
  seedWeb(api);
  createBatch(api, 'a', (n) => `10.96.1.${String(n)}`, 'lists-as-objects');
  const kernel = new FakeKernel();
  const invalid: Warning[] = [];
  await startDaemon(api, kernel, invalid);
  await waitUntil(programmed(kernel, '-a -t 10.96.1.3:80 -r 10.244.4.4:8080 -m -w 1'), 'the good Service programmed');
  assert.ok(programmed(kernel, '-a -t 10.96.0.10:80 -r 10.244.1.5:8080 -m -w 1')(), 'web keeps its good slice');
  assert.doesNotMatch(table(kernel), /10\.96\.1\.1:|10\.244\.9\.9/);
  assert.deepEqual(fields(invalid), ['EndpointSlice default/a-web-bad: endpoints', 'Service default/a-objports: spec.ports']);
});

test('malformed objects in watch events, made in the same burst as valid ones: the valid ones are programmed', { timeout: 20_000 }, async () => {
  api = await start();
  seedWeb(api);
  const kernel = new FakeKernel();
  const invalid: Warning[] = [];
  await startDaemon(api, kernel, invalid);
  createBatch(api, 'w', (n) => `10.96.2.${String(n)}`, 'lists-with-null');
  await waitUntil(programmed(kernel, '-a -t 10.96.2.3:80 -r 10.244.4.4:8080 -m -w 1'), 'the good Service programmed');
  await waitUntil(() => fields(invalid).length === 4, 'every malformed object reported');
  assert.deepEqual(fields(invalid), [
    'EndpointSlice default/w-web-bad: endpoints[0]', 'EndpointSlice default/w-web-bad: ports[0]',
    'Service default/w-extip: spec.externalIPs', 'Service default/w-nullport: spec.ports[0]',
  ]);
  assert.doesNotMatch(table(kernel), /10\.96\.2\.[12]:|10\.244\.9\.9/);
  // And the cluster keeps being programmed afterwards.
  api.create(service('default', 'later', {}, '10.96.2.9'));
  await waitUntil(programmed(kernel, '-A -t 10.96.2.9:80 -s rr'), 'a later Service programmed');
  // Fixed by removing the bad field: what decode kept is the same as before, only the problem
  // went — the Service must still be rendered again, and programmed.
  api.update(service('default', 'w-extip', {}, '10.96.2.2'));
  await waitUntil(programmed(kernel, '-A -t 10.96.2.2:80 -s rr'), 'the fixed Service programmed');
});

test('malformed objects in the relist after a 410: reported and skipped; a new valid Service is still programmed', { timeout: 20_000 }, async () => {
  api = await start();
  seedWeb(api);
  const kernel = new FakeKernel();
  const invalid: Warning[] = [];
  await startDaemon(api, kernel, invalid);
  api.pause();
  api.dropWatches();
  createBatch(api, 'r', (n) => `10.96.3.${String(n)}`, 'lists-as-objects');
  api.expireHistory();
  api.resume();
  await waitUntil(programmed(kernel, '-a -t 10.96.3.3:80 -r 10.244.4.4:8080 -m -w 1'), 'the good Service from the relist programmed');
  api.create(service('default', 'after', {}, '10.96.3.9'));
  await waitUntil(programmed(kernel, '-A -t 10.96.3.9:80 -s rr'), 'a Service made after the relist programmed');
  assert.deepEqual(fields(invalid), ['EndpointSlice default/r-web-bad: endpoints', 'Service default/r-objports: spec.ports']);
  assert.ok(programmed(kernel, '-a -t 10.96.0.10:80 -r 10.244.1.5:8080 -m -w 1')());
});
