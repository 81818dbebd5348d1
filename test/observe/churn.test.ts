// No map grows under churn: 10,000 Services and slices created and deleted, round after round,
// leave every map of the cluster state empty and the heap where it was after the first round.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

test('churn of 10,000 Services and slices: maps back to 0 and the heap flat (child process, --expose-gc)', () => {
  const out = execFileSync(process.execPath, ['--expose-gc', join(import.meta.dirname, 'churn-heap.ts'), '4'], { encoding: 'utf8', timeout: 60_000 });
  const { heaps, sizes } = JSON.parse(out) as { heaps: number[]; sizes: Record<string, number> };
  assert.deepEqual(sizes, { services: 0, slices: 0, slicesOf: 0, pendingServices: 0, pendingSlices: 0 });
  // Round 1 warms up (code, shapes, interned strings); rounds 2-4 add 30,000 names each time a
  // per-name entry leaks (~100 bytes each: ≥ 3 MB). Allow 512 KiB of noise.
  const growth = (heaps.at(-1) ?? 0) - (heaps[0] ?? 0);
  assert.ok(growth < 512 * 1024, `heap grew ${String(growth)} bytes over 3 rounds: ${heaps.join(', ')}`);
});
