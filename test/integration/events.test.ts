// Invalid Services get a Warning Event on the API server, as `kubectl describe` shows them:
// one Event series per Service and reason for the whole cluster, written when the problem
// appears or changes, counted as client-go's recorder counts repeats.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventRecorder, eventName } from '../../src/observe/events.ts';
import { silentLog } from '../../src/log.ts';
import { ep, makeNode, makeService, makeSlice } from '../compute/builders.ts';
import { rig } from '../sync/proxier-rig.ts';
import { kubeConfigFor, waitUntil } from '../support/apiserver/client.ts';
import { start } from '../support/apiserver/index.ts';

interface EventBody { type?: string; reason?: string; message?: string; count?: number; involvedObject?: { kind?: string; namespace?: string; name?: string }; source?: { component?: string; host?: string }; metadata?: { name?: string } }

const bad = (port: number) => makeService('shop', 'web', { clusterIP: '10.96.0.20', ports: [{ name: 'p', port }] });

test('an invalid Service is reported as one Warning event naming the field, whatever the number of re-renders', async () => {
  const api = await start();
  try {
    const rec = new EventRecorder(kubeConfigFor(api), 'node-a', silentLog);
    const r = rig({ serviceWarnings: (k, ws) => { rec.serviceWarnings(k, ws); } });
    r.cluster.setNode(makeNode('node-a', ['192.168.1.10']));
    r.cluster.setService('shop/web', bad(70000));
    for (let i = 0; i < 50; i++) {
      // An endpoint change re-renders the Service each time.
      r.cluster.setSlice('shop/web-x', makeSlice('shop', 'web', [ep(`10.244.1.${i + 1}`)], [{ name: 'p', port: 8080 }], { name: 'web-x' }));
      await r.proxier.sync(i === 0 ? 'periodic' : 'requested');
    }
    await rec.flush();
    assert.equal(r.invalid.length, 50, 'the proxier did re-render and report it 50 times');
    const events = api.events() as EventBody[];
    assert.equal(events.length, 1);
    const e = events[0] ?? {};
    assert.deepEqual([e.type, e.reason, e.involvedObject?.kind, e.involvedObject?.namespace, e.involvedObject?.name, e.source?.component, e.source?.host, e.count],
      ['Warning', 'InvalidService', 'Service', 'shop', 'web', 'kube-ipvs', 'node-a', 1]);
    assert.equal(e.metadata?.name, eventName('web', 'InvalidService'));
    assert.match(e.message ?? '', /^spec\.ports\[0\]\.port: .*70000/);
    assert.equal(api.requests(undefined, /events/), 1, 'one request for 50 re-renders');
  } finally {
    await api.stop();
  }
});

test('other nodes count into the same Event; a changed problem updates it; a fixed one that comes back counts again', async () => {
  const api = await start();
  try {
    const kc = kubeConfigFor(api);
    const [a, b] = [new EventRecorder(kc, 'node-a', silentLog), new EventRecorder(kc, 'node-b', silentLog)];
    const w = (port: number) => [{ kind: 'Service', object: 'shop/web', field: 'spec.ports[0].port', message: `${port} is not a port number in [1, 65535]` }];
    const only = (): EventBody => {
      const all = api.events() as EventBody[];
      assert.equal(all.length, 1, JSON.stringify(all));
      return all[0] ?? {};
    };
    a.serviceWarnings('shop/web', w(70000));
    await a.flush();
    b.serviceWarnings('shop/web', w(70000));
    b.serviceWarnings('shop/web', w(70000)); // a re-render on node-b: nothing new
    await b.flush();
    assert.equal(only().count, 2);
    a.serviceWarnings('shop/web', w(80000));
    await a.flush();
    assert.deepEqual([only().count, only().message], [3, 'spec.ports[0].port: 80000 is not a port number in [1, 65535]']);
    a.serviceWarnings('shop/web', []);
    a.serviceWarnings('shop/web', w(80000));
    await a.flush();
    assert.equal(only().count, 4);
    // Both nodes at once: neither loses the other's occurrence (a conflict is re-read, not dropped).
    a.serviceWarnings('shop/web', w(90000));
    b.serviceWarnings('shop/web', w(90000));
    await Promise.all([a.flush(), b.flush()]);
    assert.equal(only().count, 6);
  } finally {
    await api.stop();
  }
});

test('start-up posts kube-proxy\'s Starting event on the Node', async () => {
  const api = await start();
  try {
    new EventRecorder(kubeConfigFor(api), 'node-a', silentLog).starting();
    await waitUntil(() => api.events().length === 1, 'event recorded');
    const e = api.events()[0] as { metadata?: { namespace?: string }; type?: string; reason?: string; action?: string; eventTime?: string;
      involvedObject?: { kind?: string; name?: string }; source?: { component?: string; host?: string }; reportingComponent?: string; reportingInstance?: string };
    assert.deepEqual([e.metadata?.namespace, e.type, e.reason, e.action, e.involvedObject?.kind, e.involvedObject?.name, e.source?.component, e.source?.host,
      e.reportingComponent, e.reportingInstance],
    ['default', 'Normal', 'Starting', 'StartKubeProxy', 'Node', 'node-a', 'kube-proxy', 'node-a', 'kube-proxy', 'kube-proxy-node-a']);
    // MicroTime: six fractional digits, as the apiserver parses it.
    assert.match(e.eventTime ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  } finally {
    await api.stop();
  }
});
