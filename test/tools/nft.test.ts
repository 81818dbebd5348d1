// The nft language: the formatter's scripts and the reader of `nft -j` output, against JSON
// captured from the real nft (test/fixtures/nft/capture.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { diffNft } from '../../src/compute/diff/nft.ts';
import { formatNftScript, ruleFingerprint } from '../../src/tools/nft.ts';
import { NftParseError, parseNftJson } from '../../src/tools/nft-json.ts';
import { elementText } from '../../src/tools/nft-json.ts';
import { desiredOf, exampleCluster } from '../compute/nft-example.ts';

const captured = readFileSync(join(import.meta.dirname, '../fixtures/nft/list-examples.json'), 'utf8');

test('the example table read back from the real nft is exactly the desired one: no operation to do', () => {
  const { table } = desiredOf(exampleCluster());
  const observed = parseNftJson(captured, 'kube-ipvs');
  assert.deepEqual(diffNft(table, observed), []);
  // And the reader really read: elements of a concatenation with a CIDR, fingerprints of rules.
  assert.ok(observed.sets.get('load-balancer-source-cidr-v4')?.elements.has('203.0.113.10 . tcp . 443 . 198.51.100.0/24'));
  assert.equal(observed.chains.get('services')?.fingerprints.length, table.chains.find((c) => c.name === 'services')?.rules.length);
});

test('elements print as the formatter writes them: protocol names, host prefixes without mask, canonical IPv6', () => {
  const t4 = ['ipv4_addr', 'inet_proto', 'inet_service', 'ipv4_addr'];
  assert.equal(elementText({ concat: ['10.0.0.1', 6, 80, { prefix: { addr: '10.1.0.0', len: 16 } }] }, t4), '10.0.0.1 . tcp . 80 . 10.1.0.0/16');
  assert.equal(elementText({ concat: ['10.0.0.1', 'sctp', 80, { prefix: { addr: '10.1.2.3', len: 32 } }] }, t4), '10.0.0.1 . sctp . 80 . 10.1.2.3');
  assert.equal(elementText({ elem: { val: 'FD00:0:0::1', counter: { packets: 0, bytes: 0 } } }, ['ipv6_addr']), 'fd00::1');
  assert.equal(elementText(30080, ['inet_service']), '30080');
});

test('a rule without the kube-ipvs comment counts as foreign, and other tables are skipped', () => {
  const json = JSON.stringify({ nftables: [
    { chain: { family: 'inet', table: 'kube-ipvs', name: 'services' } },
    { rule: { family: 'inet', table: 'kube-ipvs', chain: 'services', expr: [] } },
    { rule: { family: 'inet', table: 'other', chain: 'services', expr: [], comment: 'x' } },
    { set: { family: 'ip', table: 'kube-ipvs', name: 'not-ours', type: 'ipv4_addr' } },
  ] });
  const o = parseNftJson(json, 'kube-ipvs');
  assert.deepEqual(o.chains.get('services')?.fingerprints, ['']);
  assert.equal(o.sets.size, 0);
});

test('output that is not nft JSON is a typed parse error', () => {
  assert.throws(() => parseNftJson('Error: No such file', 'kube-ipvs'), (e: unknown) => e instanceof NftParseError);
  assert.throws(() => parseNftJson('{"nftables":[{"set":{"family":"inet","table":"kube-ipvs","name":"s","type":"ipv4_addr","elem":[{"weird":1}]}}]}', 'kube-ipvs'), NftParseError);
});

test('a script is one transaction of statements; deleting the table first never fails on an absent table', () => {
  const { table } = desiredOf(exampleCluster());
  const s = formatNftScript('kube-ipvs', [{ op: 'delete-table' }, { op: 'create-table', table }]);
  const lines = s.trimEnd().split('\n');
  assert.deepEqual(lines.slice(0, 3), ['add table inet kube-ipvs', 'delete table inet kube-ipvs', 'add table inet kube-ipvs']);
  const rule = 'ip saddr 127.0.0.0/8 return';
  assert.ok(lines.includes(`add rule inet kube-ipvs services ${rule} comment "${ruleFingerprint(rule)}"`));
  assert.equal(formatNftScript('kube-ipvs', []), '');
  const many = Array.from({ length: 1200 }, (_, i) => String(30000 + i));
  assert.equal(formatNftScript('kube-ipvs', [{ op: 'add-elements', set: 'node-port-tcp-v4', elements: many }]).trimEnd().split('\n').length, 3);
});
