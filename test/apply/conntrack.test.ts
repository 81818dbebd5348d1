import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deleteByEndpointArgv, deleteByServiceArgv } from '../../src/tools/conntrack.ts';
import { deleteEntries } from '../../src/apply/conntrack.ts';
import { ToolError, type Runner } from '../../src/apply/exec.ts';
import { parseIp, type Ip } from '../../src/compute/net/ip.ts';
import { FakeKernel } from '../fakes/fake-kernel.ts';
import type { FakeFlow } from '../fakes/fake-conntrack.ts';
import { probe } from './fixtures.ts';

const ip = (s: string): Ip => parseIp(s) ?? assert.fail(s);
const flow = (origDst: string, natDst: string, protocol: FakeFlow['protocol'] = 'udp', origDport = 53): FakeFlow =>
  ({ protocol, origSrc: origDst.includes(':') ? 'fd00::99' : '10.0.0.99', origDst, origDport, natDst });

test('argv for each cleanup: always the frontend\'s address and port, with -f ipv6 for IPv6', () => {
  assert.deepEqual(deleteByServiceArgv(ip('10.96.0.10'), 53), ['conntrack', '-D', '-p', 'udp', '--orig-dst', '10.96.0.10', '--orig-port-dst', '53']);
  assert.deepEqual(deleteByEndpointArgv(ip('fd00::5'), ip('fd00::10'), 53),
    ['conntrack', '-D', '-f', 'ipv6', '-p', 'udp', '--orig-dst', 'fd00::10', '--orig-port-dst', '53', '--reply-src', 'fd00::5']);
});

test('deletes only the UDP flows of the removed frontend or endpoint, and counts them', async () => {
  const k = new FakeKernel();
  k.conntrack.flows = [
    flow('10.96.0.10', '10.244.0.5'), flow('10.96.0.10', '10.244.0.6'), flow('10.96.0.10', '10.244.0.5', 'tcp'),
    flow('10.96.0.10', '10.244.0.5', 'udp', 5353), flow('10.96.0.11', '10.244.0.5'), flow('fd00::10', 'fd00:10:244::5'),
  ];
  assert.equal(await deleteEntries(k, deleteByEndpointArgv(ip('10.244.0.5'), ip('10.96.0.10'), 53)), 1);
  assert.equal(await deleteEntries(k, deleteByServiceArgv(ip('10.96.0.10'), 53)), 1);
  assert.equal(await deleteEntries(k, deleteByEndpointArgv(ip('fd00:10:244::5'), ip('fd00::10'), 53)), 1);
  assert.deepEqual(k.conntrack.flows.map((f) => `${f.protocol} ${f.origDst}:${f.origDport} ${f.natDst}`),
    ['tcp 10.96.0.10:53 10.244.0.5', 'udp 10.96.0.10:5353 10.244.0.5', 'udp 10.96.0.11:53 10.244.0.5']);
});

test('"0 flow entries have been deleted" (exit 1) is success; other failures are not', async () => {
  const p = probe('conntrack-delete-none.txt');
  const real: Runner = { run: (argv) => Promise.reject(new ToolError({ code: 'TOOL_FAILED', argv, exitCode: p.exitCode, stderr: p.stderr })) };
  assert.equal(await deleteEntries(real, p.argv), 0);
  assert.equal(await deleteEntries(new FakeKernel(), deleteByServiceArgv(ip('10.96.0.99'), 53)), 0);
  // an IPv6 address without -f ipv6 is a usage error (exit 2)
  await assert.rejects(deleteEntries(new FakeKernel(), ['conntrack', '-D', '-p', 'udp', '--orig-dst', 'fd00::1']), { code: 'TOOL_FAILED', exitCode: 2 });
});
