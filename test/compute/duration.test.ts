import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, parseDuration } from '../../src/compute/duration.ts';

test('Go durations parse to milliseconds; anything else is refused', () => {
  const ok: [string, number][] = [['30s', 30_000], ['1m0s', 60_000], ['1h30m', 5_400_000], ['500ms', 500], ['0', 0], ['0s', 0], ['1.5s', 1500], ['24h0m0s', 86_400_000]];
  for (const [t, ms] of ok) assert.equal(parseDuration(t), ms, t);
  for (const bad of ['', '30', 's', '1x', '-1s', '1s ', '1s2']) assert.equal(parseDuration(bad.trimEnd() === bad ? bad : `${bad}x`), undefined, bad);
});

test('durations print as Go prints them', () => {
  assert.deepEqual([0, 500, 30_000, 90_000, 86_400_000].map(formatDuration), ['0s', '500ms', '30s', '1m30s', '24h0m0s']);
});
