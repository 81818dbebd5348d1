// Invalid Services get a Warning Event on the API server, as `kubectl describe` shows them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventRecorder } from '../../src/observe/events.ts';
import { silentLog } from '../../src/log.ts';
import { kubeConfigFor, waitUntil } from '../support/apiserver/client.ts';
import { start } from '../support/apiserver/index.ts';

test('an invalid Service is reported as a Warning event naming the field', async () => {
  const api = await start();
  try {
    const rec = new EventRecorder(kubeConfigFor(api), 'node-a', silentLog);
    rec.invalidService({ kind: 'Service', object: 'shop/web', field: 'spec.ports[0].port', message: '70000 is not a port number in [1, 65535]' });
    await waitUntil(() => api.events().length === 1, 'event recorded');
    const e = api.events()[0] as { type?: string; reason?: string; message?: string; involvedObject?: { kind?: string; namespace?: string; name?: string }; source?: { component?: string; host?: string } };
    assert.deepEqual([e.type, e.reason, e.involvedObject?.kind, e.involvedObject?.namespace, e.involvedObject?.name, e.source?.component, e.source?.host],
      ['Warning', 'InvalidService', 'Service', 'shop', 'web', 'kube-ipvs', 'node-a']);
    assert.equal(e.message, 'spec.ports[0].port: 70000 is not a port number in [1, 65535]');
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
