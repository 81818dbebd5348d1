// The index's virtual server map: every snapshot stays as it was taken whatever is written
// after it, and the live map reads its own writes — checked against plain Maps copied per
// snapshot (the model), over random writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtualServerMap, type VirtualServers } from '../../../src/compute/model/vs-map.ts';
import type { VirtualServer } from '../../../src/compute/model/types.ts';

// Only identity matters to the map: a tagged object stands in for a rendered virtual server.
const vs = (tag: string): VirtualServer => ({ tag }) as unknown as VirtualServer;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32; };
}

const asMap = (v: VirtualServers): Map<string, VirtualServer> => new Map([...v].map(([k, x]) => [k, x]));

test('snapshots never change afterwards, and each equals the model at its time', () => {
  for (let seed = 1; seed <= 20; seed++) {
    const r = rng(seed);
    const live = new VirtualServerMap();
    const model = new Map<string, VirtualServer>();
    const kept: { view: VirtualServers; was: Map<string, VirtualServer> }[] = [];
    for (let step = 0; step < 3000; step++) {
      const key = `TCP/10.96.${Math.floor(r() * 8)}.${Math.floor(r() * 250)}:${80 + Math.floor(r() * 3)}`;
      const x = r();
      if (x < 0.55) { const v = vs(`${key}#${step}`); live.set(key, v); model.set(key, v); }
      else if (x < 0.95) { live.delete(key); model.delete(key); }
      else kept.push({ view: live.snapshot(), was: new Map(model) });
      assert.equal(live.get(key), model.get(key));
    }
    kept.push({ view: live.snapshot(), was: new Map(model) });
    for (const { view, was } of kept) {
      assert.equal(view.size, was.size, `seed ${seed}: size`);
      assert.deepEqual(asMap(view), was, `seed ${seed}: entries`);
      assert.deepEqual(new Set(view.keys()), new Set(was.keys()));
      assert.deepEqual(new Set(view.values()), new Set(was.values()));
      for (const [k, v] of was) { assert.equal(view.get(k), v); assert.ok(view.has(k)); }
      assert.equal(view.get('TCP/10.0.0.1:1'), undefined);
      assert.equal(view.has('TCP/10.0.0.1:1'), false);
    }
  }
});

test('a write after a snapshot leaves it alone; deleting what is absent changes nothing', () => {
  const live = new VirtualServerMap();
  const a = vs('a');
  live.set('k', a);
  const first = live.snapshot();
  live.set('k', vs('b'));
  live.delete('k');
  live.delete('never-there');
  const second = live.snapshot();
  assert.equal(first.get('k'), a);
  assert.equal(first.size, 1);
  assert.equal(second.size, 0);
  assert.deepEqual([...second], []);
});
