// A list hands its objects to the cluster state in one burst: the daemon asks for one sync (with
// its metrics and health bookkeeping) per burst, not one per object (20,000 at 10,000 Services).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLog } from '../../src/log.ts';
import { ClusterState } from '../../src/observe/cluster-state.ts';
import { ClusterWatcher } from '../../src/observe/informers.ts';
import { endpointSlice, node, service } from '../support/apiserver/builders.ts';
import { kubeConfigFor, waitUntil } from '../support/apiserver/client.ts';
import { start } from '../support/apiserver/index.ts';

test('listing 200 Services and 200 EndpointSlices asks for a sync a few times, not 400; a watch event still asks at once', async () => {
  await using api = await start();
  api.create(node('node-a'));
  for (let i = 0; i < 200; i++) {
    api.create(service('default', `web${String(i)}`, {}, `10.96.1.${String(i)}`));
    api.create(endpointSlice('default', `web${String(i)}-1`, `web${String(i)}`, ['10.244.1.5']));
  }
  const cluster = new ClusterState();
  let asked = 0;
  const watcher = new ClusterWatcher(kubeConfigFor(api), 'node-a', cluster, { changed: () => { asked++; } }, silentLog);
  try {
    await watcher.start();
    await waitUntil(() => cluster.services.size === 200 && cluster.slices.size === 200 && cluster.node !== undefined, 'listed');
    await new Promise((r) => setImmediate(r));
    // The lists come in pages of 500 at most: one burst per informer here.
    assert.ok(asked >= 1 && asked <= 6, `asked ${String(asked)} times for 401 objects`);
    const before = asked;
    api.create(service('default', 'late', {}, '10.96.2.1'));
    await waitUntil(() => cluster.services.has('default/late'), 'the watch event');
    await waitUntil(() => asked === before + 1, 'one more request for a sync');
  } finally {
    watcher.stop();
  }
});
