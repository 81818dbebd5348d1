import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyIptables, readIptables } from '../../src/apply/iptables.ts';
import { formatCleanup, formatRestore, iptablesBinary, jumpFixes, parseIptablesSave, ruleTarget, type SavedTable } from '../../src/tools/iptables.ts';
import { applyIpsetScript } from '../../src/apply/ipset.ts';
import { formatDeltaScript } from '../../src/tools/ipset.ts';
import { ToolError } from '../../src/apply/exec.ts';
import { SET_BASES, SET_DEFS, createOptions, setName } from '../../src/compute/model/ipsets.ts';
import { buildIptables, JUMPS, jumpRuleText, type IptablesState } from '../../src/compute/model/iptables.ts';
import { FakeKernel } from '../fakes/fake-kernel.ts';
import { fixture } from './fixtures.ts';

const desired = (family: 4 | 6): IptablesState => buildIptables({
  family, masqueradeAll: false, local: undefined, masqueradeBit: 14, nonEmptySets: new Set(SET_BASES), outFilterDrops: [],
});

/** A kernel with kube-proxy's sets, which the rules refer to. */
async function kernel(family: 4 | 6 = 4): Promise<FakeKernel> {
  const k = new FakeKernel();
  await applyIpsetScript(k, formatDeltaScript(SET_BASES.map((base) => {
    const type = SET_DEFS[base].type;
    return { set: { name: setName(base, family), base, family, type, createOptions: createOptions(type, family), entries: [] }, create: true, add: [], del: [] };
  })));
  return k;
}

const rules = (t: SavedTable | undefined, chain: string): readonly string[] => t?.get(chain)?.rules ?? [];

test('iptables-save of both backends reads to the same chains and rules', () => {
  const nft = parseIptablesSave(fixture('iptables-save-nft.txt'));
  const legacy = parseIptablesSave(fixture('iptables-save-legacy.txt'));
  assert.deepEqual([...nft.keys()].sort(), ['filter', 'nat']);
  for (const table of ['nat', 'filter']) {
    const n = nft.get(table) ?? assert.fail();
    const l = legacy.get(table) ?? assert.fail();
    assert.deepEqual([...n.keys()].sort(), [...l.keys()].sort());
    for (const [chain, c] of n) assert.deepEqual(c, l.get(chain), `${table} ${chain}`);
  }
  const filter = nft.get('filter');
  assert.equal(filter?.get('INPUT')?.policy, 'ACCEPT');
  assert.equal(filter.get('KUBE-FORWARD')?.policy, '-');
  assert.deepEqual(rules(filter, 'DOCKER-USER'), ['-A DOCKER-USER -s 192.0.2.0/24 -j DROP']);
  assert.equal(rules(filter, 'FORWARD').map(ruleTarget).join(' '), 'DOCKER-USER KUBE-PROXY-FIREWALL KUBE-FORWARD');
  assert.equal(parseIptablesSave(fixture('ip6tables-save-nft.txt')).get('nat')?.get('KUBE-SERVICES')?.rules[0], '-A KUBE-SERVICES -s ::1/128 -j RETURN');
});

test('jump fixes: missing jumps go on top, duplicates are deleted, present ones are left', () => {
  const natJumps = JUMPS.filter((j) => j.table === 'nat');
  const [pre, out] = natJumps.map(jumpRuleText);
  const observed = new Map([
    ['PREROUTING', { policy: 'ACCEPT', rules: [pre ?? '', '-A PREROUTING -j OTHER', pre ?? ''] }],
    ['OUTPUT', { policy: 'ACCEPT', rules: [out ?? ''] }],
  ]);
  assert.deepEqual(jumpFixes(observed, natJumps), [
    '-D PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-I POSTROUTING 1 -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
  ]);
  assert.deepEqual(jumpFixes(undefined, natJumps).map((l) => l.split(' ').slice(0, 3).join(' ')), ['-I PREROUTING 1', '-I OUTPUT 1', '-I POSTROUTING 1']);
});

for (const family of [4, 6] as const) {
  test(`IPv${family}: restore rewrites only kube-ipvs chains, leaves others, and jumps end up exactly once`, async () => {
    const k = await kernel(family);
    const target = { family };
    k.admin([iptablesBinary(family, 'restore'), '--noflush'], '*filter\n:DOCKER-USER - [0:0]\n-A FORWARD -j DOCKER-USER\n-A DOCKER-USER -j RETURN\n:KUBE-FORWARD - [0:0]\n-A KUBE-FORWARD -j DROP\nCOMMIT\n');
    const want = desired(family);
    for (let i = 0; i < 2; i++) { // the second run must find nothing to repair
      await applyIptables(k, target, formatRestore(want, await readIptables(k, target, ['nat', 'filter'])));
    }
    const got = await readIptables(k, target);
    for (const t of ['nat', 'filter'] as const) {
      const table = got.get(t);
      for (const chain of want[t].chains) {
        assert.deepEqual(rules(table, chain), want[t].rules.filter((r) => r.startsWith(`-A ${chain} `)), `${t} ${chain}`);
      }
      for (const j of want.jumps.filter((x) => x.table === t)) {
        assert.equal(rules(table, j.from).filter((r) => r === jumpRuleText(j)).length, 1, jumpRuleText(j));
      }
    }
    assert.deepEqual(rules(got.get('filter'), 'DOCKER-USER'), ['-A DOCKER-USER -j RETURN']);
    assert.ok(rules(got.get('filter'), 'FORWARD').includes('-A FORWARD -j DOCKER-USER'));
  });
}

test('a failing table applies nothing of that table', async () => {
  const k = await kernel();
  const target = { family: 4 as const };
  k.failLine('iptables', '-A KUBE-FORWARD', 'Invalid argument');
  const e = await applyIptables(k, target, formatRestore(desired(4), new Map())).then(() => assert.fail(), (x: unknown) => x);
  assert.ok(e instanceof ToolError);
  assert.match(e.line?.text ?? '', /^-A KUBE-FORWARD/);
  const got = await readIptables(k, target);
  assert.equal(got.get('filter'), undefined, 'filter table untouched');
});

test('cleanup removes owned chains and every jump to them, and nothing else', async () => {
  const k = await kernel();
  const target = { family: 4 as const };
  k.admin(['iptables-restore', '--noflush'], '*filter\n:DOCKER-USER - [0:0]\n-A FORWARD -j DOCKER-USER\nCOMMIT\n');
  await applyIptables(k, target, formatRestore(desired(4), new Map()));
  const owned = (c: string): boolean => c.startsWith('KUBE-');
  await applyIptables(k, target, formatCleanup(await readIptables(k, target), owned));
  const got = await readIptables(k, target);
  for (const [, table] of got) {
    for (const [chain, c] of table) {
      assert.equal(owned(chain), false, chain);
      for (const r of c.rules) assert.equal(owned(ruleTarget(r) ?? ''), false, r);
    }
  }
  assert.deepEqual(rules(got.get('filter'), 'FORWARD'), ['-A FORWARD -j DOCKER-USER']);
  assert.equal(formatCleanup(got, owned), '', 'nothing left: no payload');
});

test('binary names by family and backend', () => {
  assert.deepEqual([iptablesBinary(4, 'save'), iptablesBinary(6, 'restore', 'legacy'), iptablesBinary(6, 'save', 'nft')],
    ['iptables-save', 'ip6tables-legacy-restore', 'ip6tables-nft-save']);
});
