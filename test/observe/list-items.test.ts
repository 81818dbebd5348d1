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

test('items and the rest of the answer are what JSON.parse of the whole reads, for any chunking (property, 300 seeds)', () => {
  for (let seed = 1; seed <= 300; seed++) {
    const r = prng(seed);
    const items = Array.from({ length: Math.floor(r() * 6) }, () => (r() < 0.7 ? { metadata: { name: value(r, 2), items: value(r, 2) }, spec: value(r, 1) } : value(r, 1)));
    const list = { kind: 'ServiceList', apiVersion: 'v1', metadata: { resourceVersion: '42', continue: r() < 0.5 ? 'a"b[' : '' }, items };
    const text = JSON.stringify(list, null, r() < 0.3 ? 1 : undefined);
    const sizes = [1 + Math.floor(r() * 3), 1 + Math.floor(r() * 40), 1 + Math.floor(r() * 4000)];
    const got = split(text, sizes);
    assert.deepEqual(got.items, items, `seed ${String(seed)}`);
    assert.deepEqual(got.rest, { ...list, items: [] }, `seed ${String(seed)}`);
  }
});

test('only the top-level items array is split: a nested "items" key or value stays in its object', () => {
  const text = '{"metadata":{"items":[1,2]},"kind":"items","x":["items",[3]],"items":[ {"items":[4]} , 5 ,"items"],"after":{"items":[]}}';
  const got = split(text, [7]);
  assert.deepEqual(got.items, [{ items: [4] }, 5, 'items']);
  assert.deepEqual(got.rest, { ...JSON.parse(text) as object, items: [] });
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
