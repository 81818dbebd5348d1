// ListItems against JSON.parse of the whole answer: the same items and the same rest, however the
// bytes are cut into chunks; malformed answers are errors, never a partial list.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ListItems, ListSyntaxError } from '../../src/observe/list-items.ts';
import { prng } from '../support/prng.ts';

/** Feeds `text` in chunks of the given sizes (cycled); returns the items parsed and the rest. */
function split(text: string, sizes: readonly number[]): { items: unknown[]; rest: unknown } {
  const bytes = Buffer.from(text);
  const items: unknown[] = [];
  const l = new ListItems((json) => { items.push(JSON.parse(json)); });
  for (let at = 0, k = 0; at < bytes.length; k++) {
    const n = Math.max(1, sizes[k % sizes.length] ?? 1);
    l.push(new Uint8Array(bytes.subarray(at, at + n)));
    at += n;
  }
  return { items, rest: l.end() };
}

const NASTY = ['"', '\\', '\\"', '\\\\', '{', '}', '[', ']', ',', ':', 'items', '"items"', 'é', '€', '😀', '\u0000', '\n', ' '];

function value(r: () => number, depth: number): unknown {
  const k = Math.floor(r() * (depth > 3 ? 5 : 7));
  switch (k) {
    case 0: return null;
    case 1: return r() < 0.5;
    case 2: return Math.floor(r() * 1e6) - 5e5 + (r() < 0.3 ? 0.25 : 0);
    case 3: case 4: return Array.from({ length: Math.floor(r() * 4) }, () => NASTY[Math.floor(r() * NASTY.length)] ?? '').join('');
    case 5: return Array.from({ length: Math.floor(r() * 4) }, () => value(r, depth + 1));
    default: return Object.fromEntries(Array.from({ length: Math.floor(r() * 4) }, (_, i) => [`${NASTY[Math.floor(r() * NASTY.length)] ?? ''}${String(i)}`, value(r, depth + 1)]));
  }
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/**
 * What an item is handed on as: JSON.parse of its text, with an array metadata.managedFields
 * empty, and in an endpoints array each endpoint object's object targetRef empty.
 */
function expected(item: unknown): unknown {
  if (!isObject(item)) return item;
  const out: Record<string, unknown> = { ...item };
  const m = item.metadata;
  if (isObject(m) && Array.isArray(m.managedFields)) out.metadata = { ...m, managedFields: [] };
  if (Array.isArray(item.endpoints)) out.endpoints = item.endpoints.map((e: unknown) => (isObject(e) && isObject(e.targetRef) ? { ...e, targetRef: {} } : e));
  return out;
}

test('items and the rest of the answer are what JSON.parse of the whole reads, for any chunking (property, 300 seeds)', () => {
  for (let seed = 1; seed <= 300; seed++) {
    const r = prng(seed);
    const meta = (): Record<string, unknown> => {
      const m: Record<string, unknown> = { name: value(r, 2) };
      // managedFields anywhere among the keys, an array (left out) or not (kept), or absent.
      if (r() < 0.5) m.managedFields = r() < 0.8 ? [value(r, 3), { manager: 'kubectl', fieldsV1: { 'f:metadata': value(r, 3) } }] : value(r, 2);
      m.items = value(r, 2);
      return r() < 0.5 ? m : Object.fromEntries(Object.entries(m).reverse());
    };
    // Endpoints as a slice has them, with targetRefs (objects, left out; or other values, kept).
    const endpoint = (): unknown => (r() < 0.8
      ? { addresses: [value(r, 4)], ...(r() < 0.7 ? { targetRef: r() < 0.8 ? { kind: 'Pod', name: value(r, 4), x: value(r, 4) } : value(r, 4) } : {}), nodeName: value(r, 4) }
      : value(r, 4));
    const item = (): unknown => (r() < 0.5
      ? { metadata: meta(), spec: value(r, 1) }
      : { metadata: meta(), endpoints: Array.from({ length: Math.floor(r() * 4) }, endpoint), ports: value(r, 2) });
    const items = Array.from({ length: Math.floor(r() * 6) }, () => (r() < 0.7 ? item() : value(r, 1)));
    const list = { kind: 'ServiceList', apiVersion: 'v1', metadata: { resourceVersion: '42', continue: r() < 0.5 ? 'a"b[' : '' }, items };
    const text = JSON.stringify(list, null, r() < 0.3 ? 1 : undefined);
    const sizes = [1 + Math.floor(r() * 3), 1 + Math.floor(r() * 40), 1 + Math.floor(r() * 4000)];
    const got = split(text, sizes);
    assert.deepEqual(got.items, items.map(expected), `seed ${String(seed)}`);
    assert.deepEqual(got.rest, { ...list, items: [] }, `seed ${String(seed)}`);
  }
});

test('only the top-level items array is split: a nested "items" key or value stays in its object', () => {
  const text = '{"metadata":{"items":[1,2]},"kind":"items","x":["items",[3]],"items":[ {"items":[4]} , 5 ,"items"],"after":{"items":[]}}';
  const got = split(text, [7]);
  assert.deepEqual(got.items, [{ items: [4] }, 5, 'items']);
  assert.deepEqual(got.rest, { ...JSON.parse(text) as object, items: [] });
});

test('only an item\'s own metadata.managedFields is left out; the same key elsewhere, or under "managedFields" as a value, is kept', () => {
  const mf = [{ manager: 'm', fieldsV1: { 'f:spec': { '.': {} } }, note: '"managedFields":[1]' }];
  const items = [
    { metadata: { name: 'a', managedFields: mf, labels: { managedFields: 'x' } }, spec: { metadata: { managedFields: mf } }, managedFields: mf },
    { metadata: { annotations: { a: '"metadata":{"managedFields":[2]}' }, managedFields: [] }, status: ['managedFields', { managedFields: mf }] },
    ['metadata', { managedFields: mf }],
    { metadata: { name: 'c', managedFields: { not: 'an array' } } },
  ];
  const text = JSON.stringify({ metadata: { managedFields: mf }, items });
  for (const size of [1, 3, 17, text.length]) {
    const got = split(text, [size]);
    assert.deepEqual(got.items, [
      { metadata: { name: 'a', managedFields: [], labels: { managedFields: 'x' } }, spec: { metadata: { managedFields: mf } }, managedFields: mf },
      items[1], items[2], items[3],
    ], `chunks of ${String(size)}`);
    assert.deepEqual(got.rest, { metadata: { managedFields: mf }, items: [] });
  }
});

test('only an EndpointSlice endpoint\'s own targetRef object is left out; targetRef elsewhere, or not an object, is kept', () => {
  const ref = { kind: 'Pod', namespace: 'ns', name: 'p}{"', uid: 'u' };
  const items = [
    { metadata: { name: 's', targetRef: ref }, endpoints: [{ addresses: ['10.0.0.1'], targetRef: ref, zone: 'a' }, { targetRef: ['kept'] }, 'x', [{ targetRef: ref }]], targetRef: ref },
    { spec: { endpoints: [{ targetRef: ref }] }, endpoints: { targetRef: ref } },
  ];
  const text = JSON.stringify({ endpoints: [{ targetRef: ref }], items });
  for (const size of [1, 5, 64, text.length]) {
    const got = split(text, [size]);
    assert.deepEqual(got.items, [
      { metadata: { name: 's', targetRef: ref }, endpoints: [{ addresses: ['10.0.0.1'], targetRef: {}, zone: 'a' }, { targetRef: ['kept'] }, 'x', [{ targetRef: ref }]], targetRef: ref },
      items[1],
    ], `chunks of ${String(size)}`);
    assert.deepEqual(got.rest, { endpoints: [{ targetRef: ref }], items: [] });
  }
});

test('an empty list, and an answer without items, keep their rest', () => {
  assert.deepEqual(split('{"items":[ ],"metadata":{}}', [2]), { items: [], rest: { items: [], metadata: {} } });
  assert.deepEqual(split('{"kind":"Status","code":500}', [3]), { items: [], rest: { kind: 'Status', code: 500 } });
});

test('a truncated or malformed answer is a ListSyntaxError (or the item\'s SyntaxError), never a shorter list', () => {
  const whole = JSON.stringify({ metadata: {}, items: [{ a: 1 }, { b: '}]' }] });
  for (let cut = 1; cut < whole.length; cut++) {
    assert.throws(() => split(whole.slice(0, cut), [5]), (e: unknown) => e instanceof ListSyntaxError || e instanceof SyntaxError, `cut at ${String(cut)}`);
  }
  for (const bad of ['{"items":[1,,2]}', '{"items":[1,]}', '{"items":[,1]}', '{"items":[{"a":1}{"b":2}]}', '{"items":[]}}', '{"items":[1]} x', '{"items":[1]]}']) {
    assert.throws(() => split(bad, [4]), (e: unknown) => e instanceof ListSyntaxError || e instanceof SyntaxError, bad);
  }
});
