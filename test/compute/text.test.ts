import { test } from 'node:test';
import assert from 'node:assert/strict';
import { flat } from '../../src/compute/text.ts';
import { ipPortEntry, ipPortIpEntry, ipPortNetEntry } from '../../src/compute/model/ipsets.ts';
import { virtualServerKey } from '../../src/compute/model/types.ts';
import { keyOf } from '../../src/observe/cluster-state.ts';
import { parseCidr, parseIp } from '../../src/compute/net/ip.ts';

const ip = (s: string) => parseIp(s) ?? assert.fail(s);

test('flat concatenates the texts of its parts, numbers as decimal, nothing between them', () => {
  assert.equal(flat('10.96.0.1', ',', 'tcp', ':', 8080), '10.96.0.1,tcp:8080');
  assert.equal(flat(), '');
  assert.equal(flat('', '/', ''), '/');
  assert.equal(flat(0, -1, 1.5), '0-11.5');
});

test('the texts built flat read as ipset save, ipvsadm and the informers print them', () => {
  assert.equal(ipPortEntry(ip('10.96.0.10'), 'UDP', 53), '10.96.0.10,udp:53');
  assert.equal(ipPortIpEntry(ip('10.244.1.5'), 'TCP', 8080, ip('10.244.1.5')), '10.244.1.5,tcp:8080,10.244.1.5');
  assert.equal(ipPortNetEntry(ip('203.0.113.7'), 'TCP', 443, parseCidr('198.51.100.0/24') ?? assert.fail()), '203.0.113.7,tcp:443,198.51.100.0/24');
  assert.equal(ipPortNetEntry(ip('203.0.113.7'), 'SCTP', 443, parseCidr('198.51.100.9/32') ?? assert.fail()), '203.0.113.7,sctp:443,198.51.100.9');
  assert.equal(ipPortNetEntry(ip('fd00::7'), 'TCP', 443, parseCidr('fd01::/64') ?? assert.fail()), 'fd00::7,tcp:443,fd01::/64');
  assert.equal(virtualServerKey('TCP', ip('10.96.0.10'), 80), 'TCP/10.96.0.10:80');
  assert.equal(virtualServerKey('UDP', ip('fd00::a'), 53), 'UDP/[fd00::a]:53');
  assert.equal(keyOf({ metadata: { namespace: 'kube-system', name: 'kube-dns' } }), 'kube-system/kube-dns');
  assert.equal(keyOf({}), '/');
});
