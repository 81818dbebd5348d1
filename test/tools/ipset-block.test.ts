// setBlockAgainst: a resync compares a set's block of `ipset save` with what was applied off the
// bytes (src/apply/verify-read.ts). Where it answers, it must answer as parsing the block does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseIpsetSave, setBlockAgainst } from '../../src/tools/ipset.ts';
import { ipsetBlocks } from '../../src/tools/dump-blocks.ts';
import { prng } from '../support/prng.ts';

const fixture = readFileSync(join(import.meta.dirname, '..', 'fixtures', 'tools', 'ipset-save.txt'));

test('the real ipset save (fixture from the VM): every set block holds the members it parses to', () => {
  let n = 0;
  for (const b of ipsetBlocks(fixture)) {
    const block = fixture.subarray(b.start, b.end);
    const parsed = [...parseIpsetSave(block.toString('utf8')).values()][0];
    if (parsed === undefined) continue;
    const r = setBlockAgainst(block, parsed.members);
    assert.ok(r !== undefined, block.toString('utf8'));
    assert.ok(r.same);
    assert.equal(r.header.name, parsed.name);
    assert.equal(r.header.type, parsed.type);
    assert.deepEqual([...r.header.options], [...parsed.options]);
    assert.equal(r.header.members.size, 0);
    n++;
  }
  assert.ok(n >= 10, `${String(n)} sets`);
});

test('answers as parsing does: members missing, extra, changed, repeated, with options, or another set\'s lines (2,000 random blocks)', () => {
  const rnd = prng(7);
  const entry = (k: number): string => `10.96.${String(k >> 8)}.${String(k & 255)},tcp:80`;
  let answered = 0;
  for (let n = 0; n < 2000; n++) {
    const applied = new Set(Array.from({ length: Math.floor(rnd() * 8) }, (_, k) => entry(k)));
    const lines = [...applied].map((m) => `add KUBE-CLUSTER-IP ${m}`);
    const change = Math.floor(rnd() * 8);
    if (change === 1 && lines.length > 0) lines.splice(Math.floor(rnd() * lines.length), 1);
    if (change === 2) lines.push(`add KUBE-CLUSTER-IP ${entry(100)}`);
    if (change === 3 && lines.length > 0) lines[0] = `add KUBE-CLUSTER-IP ${entry(200)}`;
    if (change === 4 && lines.length > 0) lines.push(lines[0] ?? '');
    if (change === 5 && lines.length > 0) lines[0] = `${lines[0] ?? ''} timeout 30`;
    if (change === 6) lines.push(`add KUBE-OTHER ${entry(1)}`);
    if (change === 7) lines.splice(Math.floor(rnd() * (lines.length + 1)), 0, '');
    for (let i = lines.length - 1; i > 0; i--) { const j = Math.floor(rnd() * (i + 1)); [lines[i], lines[j]] = [lines[j] ?? '', lines[i] ?? '']; }
    const text = `create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x1\n${lines.map((l) => `${l}\n`).join('')}`;
    const r = setBlockAgainst(Buffer.from(text), applied);
    const parsed = parseIpsetSave(text);
    const own = parsed.get('KUBE-CLUSTER-IP');
    assert.ok(own !== undefined);
    const parsedSame = parsed.size === 1 && own.members.size === applied.size && [...own.members].every((m) => applied.has(m));
    if (r === undefined) continue; // parsed whole instead
    answered++;
    assert.equal(r.same, parsedSame, text);
  }
  assert.ok(answered > 1000, `${String(answered)} answered`);
});
