import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManifestSyntaxError, parseManifests } from '../../src/compute/k8s/manifests.ts';

test('multi-document YAML: Services, EndpointSlices and Nodes are kept, other kinds ignored', () => {
  const c = parseManifests([
    'kind: Service\nmetadata: {name: a}',
    'kind: Deployment\nmetadata: {name: d}',
    'kind: EndpointSlice\nmetadata: {name: a-1}',
    'kind: Node\nmetadata: {name: n}',
    '',
  ].join('\n---\n'), 'x.yaml');
  assert.deepEqual([c.services.length, c.endpointSlices.length, c.nodes.length], [1, 1, 1]);
});

test('kind: List (kubectl get -o yaml) and typed lists (ServiceList) are flattened; JSON is accepted', () => {
  const list = parseManifests('{"apiVersion":"v1","kind":"List","items":[{"kind":"Service","metadata":{"name":"a"}},{"kind":"Node","metadata":{"name":"n"}}]}', 'x.json');
  assert.deepEqual([list.services.length, list.nodes.length], [1, 1]);
  const typed = parseManifests('kind: ServiceList\nitems:\n- metadata: {name: a}\n- metadata: {name: b}\n', 'x.yaml');
  assert.deepEqual(typed.services.map((s) => s.metadata?.name), ['a', 'b']);
});

test('a syntax error names the file, line and column', () => {
  assert.throws(() => parseManifests('kind: Service\nmetadata:\n  name: [a\n', 'bad.yaml'), (e: unknown) => {
    assert.ok(e instanceof ManifestSyntaxError);
    assert.equal(e.file, 'bad.yaml');
    assert.ok(e.line >= 3, `line ${e.line}`);
    assert.match(e.message, /^bad\.yaml:\d+:\d+: /);
    return true;
  });
  assert.throws(() => parseManifests('{"kind": "Service",\n  "metadata": }', 'bad.json'), /^ManifestSyntaxError: bad\.json:2:/);
});
