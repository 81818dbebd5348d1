import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cidrContains, compareIp, hostPort, isIpv6LinkLocal, isLoopback, parseCidr, parseIp } from '../../../src/compute/net/ip.ts';

test('IPv4 parses to canonical text; leading zeros and out-of-range octets are rejected', () => {
  assert.equal(parseIp('10.96.0.10')?.text, '10.96.0.10');
  assert.equal(parseIp('010.96.0.10'), undefined);
  assert.equal(parseIp('10.96.0.256'), undefined);
  assert.equal(parseIp('10.96.0'), undefined);
  assert.equal(parseIp(''), undefined);
});

test('IPv6 prints RFC 5952 compressed, lowercase, as ipvsadm and ipset do', () => {
  const cases: [string, string][] = [
    ['FD00:10:96:0:0:0:0:A', 'fd00:10:96::a'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // first of two equal runs
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero is not compressed
    ['::', '::'],
    ['::1', '::1'],
    ['::ffff:10.0.0.1', '::ffff:10.0.0.1'],
    ['0:0:0:0:0:ffff:a00:1', '::ffff:10.0.0.1'],
    ['fe80::1', 'fe80::1'],
  ];
  for (const [input, want] of cases) assert.equal(parseIp(input)?.text, want, input);
  for (const bad of ['1::2::3', 'fd00:::1', '1:2:3:4:5:6:7:8:9', 'g::1', '1:2:3:4:5:6:7']) {
    assert.equal(parseIp(bad), undefined, bad);
  }
});

test('CIDRs clear host bits and test membership within one family only', () => {
  const c = parseCidr('10.244.1.7/16')!;
  assert.equal(c.text, '10.244.0.0/16');
  assert.ok(cidrContains(c, parseIp('10.244.200.1')!));
  assert.ok(!cidrContains(c, parseIp('10.245.0.1')!));
  assert.ok(!cidrContains(c, parseIp('::ffff:10.244.0.1')!));
  assert.equal(parseCidr('fd00:10:244::/56')?.text, 'fd00:10:244::/56');
  assert.equal(parseCidr('10.0.0.0/33'), undefined);
  assert.equal(parseCidr('10.0.0.0'), undefined);
  const zero = parseCidr('0.0.0.0/0')!;
  assert.ok(cidrContains(zero, parseIp('203.0.113.1')!));
});

test('loopback and IPv6 link-local are recognised; ordering puts IPv4 first', () => {
  assert.ok(isLoopback(parseIp('127.0.0.53')!));
  assert.ok(isLoopback(parseIp('::1')!));
  assert.ok(!isLoopback(parseIp('10.0.0.1')!));
  assert.ok(isIpv6LinkLocal(parseIp('fe80::1')!));
  assert.ok(!isIpv6LinkLocal(parseIp('fd00::1')!));
  assert.ok(compareIp(parseIp('10.0.0.2')!, parseIp('10.0.0.10')!) < 0);
  assert.ok(compareIp(parseIp('::1')!, parseIp('255.255.255.255')!) > 0);
  assert.equal(hostPort(parseIp('fd00::a')!, 53), '[fd00::a]:53');
});
