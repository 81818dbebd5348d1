// ListWatch's serializer with the slim import of cli/slim-client.ts. A file of its own: nothing
// here may load client-node before the hook is registered (test/support's client helpers import
// the package root, which loads the real serializer).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SERIALIZER_STATICS, slimClientNode } from '../../src/cli/slim-client.ts';

test('the slim serializer passes primitives through and hands everything else to the real one, with its results', async () => {
  slimClientNode();
  const real = (await import('@kubernetes/client-node/dist/gen/models/ObjectSerializer.js')).ObjectSerializer;
  const statics = Object.getOwnPropertyNames(real).filter((k) => typeof (real as unknown as Record<string, unknown>)[k] === 'function');
  assert.deepEqual([...SERIALIZER_STATICS].sort(), statics.sort(), 'every static method of the real serializer is forwarded');
  // ListWatch's serializer module, loaded here for the first time: it extends the slim one.
  const wrapped = (await import('@kubernetes/client-node/dist/serializer.js')).ObjectSerializer;
  const base = Object.getPrototypeOf(wrapped) as typeof real;
  assert.notEqual(base, real, 'serializer.js was given the slim module');
  assert.equal(wrapped.serialize('app=web', 'string'), 'app=web');
  assert.equal(base.serialize('app=web', 'string', ''), 'app=web');
  const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', creationTimestamp: new Date(0) }, spec: { ports: [{ port: 80 }] } };
  assert.deepEqual(wrapped.serialize(svc, 'V1Service'), real.serialize(svc, 'V1Service', ''));
  assert.deepEqual(base.serialize(svc, 'V1Service', ''), real.serialize(svc, 'V1Service', ''));
  assert.deepEqual(base.deserialize({ metadata: { name: 'web' } }, 'V1Service', ''), real.deserialize({ metadata: { name: 'web' } }, 'V1Service', ''));
  assert.equal(base.getPreferredMediaType([]), real.getPreferredMediaType([]));
});
