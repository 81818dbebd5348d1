import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyIpBatch, readAddresses, readLinks } from '../../src/apply/ip.ts';
import { formatIpBatch, parseAddrShow, parseLinkShow } from '../../src/tools/ip.ts';
import { ToolError } from '../../src/apply/exec.ts';
import { isIpv6LinkLocal, parseIp, type Ip } from '../../src/compute/net/ip.ts';
import { FakeKernel } from '../fakes/fake-kernel.ts';
import { fixture } from './fixtures.ts';

const ip = (s: string): Ip => parseIp(s) ?? assert.fail(s);

test('ip -o addr show: interface, address and prefix of every line', () => {
  // the veth's link-local address comes from a random MAC
  const got = parseAddrShow(fixture('ip-o-addr.txt')).map((a) => `${a.ifname} ${isIpv6LinkLocal(a.ip) ? 'fe80::…' : a.ip.text}/${a.prefix}`);
  assert.deepEqual(got, [
    'lo 127.0.0.1/8', 'lo ::1/128', 'veth-be1 10.244.1.1/24', 'veth-be1 fe80::…/64',
    'kube-ipvs0 10.96.0.10/32', 'kube-ipvs0 10.96.0.11/32', 'kube-ipvs0 fd00::10/128',
  ]);
});

test('ip -o link show: names, without the @peer suffix of veths', () => {
  assert.deepEqual(parseLinkShow(fixture('ip-o-link.txt')), ['lo', 'veth-be1', 'kube-ipvs0']);
});

test('batch: link first, deletions before additions, host prefixes per family', () => {
  assert.equal(formatIpBatch({ createLink: true, add: [ip('10.96.0.10'), ip('fd00::10')], del: [ip('10.96.0.9')] }), [
    'link add kube-ipvs0 type dummy', 'addr del 10.96.0.9/32 dev kube-ipvs0',
    'addr add 10.96.0.10/32 dev kube-ipvs0', 'addr add fd00::10/128 dev kube-ipvs0', '',
  ].join('\n'));
  assert.equal(formatIpBatch({ createLink: false, add: [], del: [] }), '');
});

test('round trip: the batch creates kube-ipvs0 and its addresses read back', async () => {
  const k = new FakeKernel();
  const want = [ip('10.96.0.10'), ip('10.96.0.11'), ip('fd00::10')];
  await applyIpBatch(k, formatIpBatch({ createLink: true, add: want, del: [] }));
  await applyIpBatch(k, formatIpBatch({ createLink: false, add: [], del: [ip('10.96.0.11')] }));
  assert.ok((await readLinks(k)).includes('kube-ipvs0'));
  const got = (await readAddresses(k)).filter((a) => a.ifname === 'kube-ipvs0').map((a) => `${a.ip.text}/${a.prefix}`);
  assert.deepEqual(got, ['10.96.0.10/32', 'fd00::10/128']);
  const before = k.callCount('ip');
  await applyIpBatch(k, '');
  assert.equal(k.callCount('ip'), before, 'nothing to do: no process');
});

test('a batch stops at the first failing line, which the error shows', async () => {
  const k = new FakeKernel();
  await applyIpBatch(k, formatIpBatch({ createLink: true, add: [ip('10.96.0.10')], del: [] }));
  const e = await applyIpBatch(k, formatIpBatch({ createLink: false, add: [ip('10.96.0.9'), ip('10.96.0.10'), ip('10.96.0.11')], del: [] }))
    .then(() => assert.fail(), (x: unknown) => x);
  assert.ok(e instanceof ToolError);
  assert.equal(e.line?.text, 'addr add 10.96.0.10/32 dev kube-ipvs0');
  const got = (await readAddresses(k)).filter((a) => a.ifname === 'kube-ipvs0').map((a) => a.ip.text);
  assert.deepEqual(got, ['10.96.0.10', '10.96.0.9'], 'lines before the failure stay applied, later ones never ran');
});

test('the node\'s own addresses are read without kube-ipvs0\'s, which are skipped unparsed', async () => {
  const k = new FakeKernel();
  await applyIpBatch(k, formatIpBatch({ createLink: true, add: [ip('10.96.0.10'), ip('fd00::10')], del: [] }));
  const all = await readAddresses(k);
  const others = await readAddresses(k, 'kube-ipvs0');
  assert.deepEqual(others.map((a) => a.ip.text), all.filter((a) => a.ifname !== 'kube-ipvs0').map((a) => a.ip.text));
  assert.ok(others.some((a) => a.ip.text === '192.168.1.10'));
});
