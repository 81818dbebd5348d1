// Counted members: shared members stay until their last owner goes; deltas are net.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Counted } from '../../../src/compute/model/counted.ts';

test('before the first delta every member is added; afterwards only net changes are reported', () => {
  const c = new Counted<string>();
  c.add('a', 'a');
  c.add('b', 'b');
  c.remove('b');
  assert.deepEqual(c.takeDelta(), { added: ['a'], removed: [] });
  assert.equal(c.changed, false);
  c.add('x', 'x');
  c.remove('x'); // came and went: nothing
  c.remove('a');
  c.add('a', 'a'); // went and came back: nothing
  assert.equal(c.changed, false);
  assert.deepEqual(c.takeDelta(), { added: [], removed: [] });
});

test('a member held by two owners goes only with the second', () => {
  const c = new Counted<string>();
  c.add('30080', '30080');
  c.takeDelta();
  c.add('30080', '30080');
  c.remove('30080');
  assert.equal(c.changed, false);
  assert.ok(c.has('30080'));
  c.remove('30080');
  assert.deepEqual(c.takeDelta(), { added: [], removed: ['30080'] });
  assert.deepEqual(c.values(), []);
});

test('values() is rebuilt after a change and never mutated, so a snapshot taken earlier keeps its members', () => {
  const c = new Counted<string>();
  c.add('a', 'a');
  const before = c.values();
  assert.equal(c.values(), before, 'cached while unchanged');
  c.add('b', 'b');
  assert.deepEqual(before, ['a']);
  assert.deepEqual([...c.values()].sort(), ['a', 'b']);
});
