// The dumps cut into one block per kernel object, as the tools print them (fixtures of real
// ipvsadm/ipset/ip output shapes): ids, byte ranges that cover the dump, and digests that
// change with any byte of the block and only of the block.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ipsetBlocks, ipvsBlocks, linkAddressLines, otherAddressLines } from '../../src/tools/dump-blocks.ts';

const IPVS = [
  '-A -t 10.96.0.10:80 -s rr',
  '-a -t 10.96.0.10:80 -r 10.244.1.2:8080 -m -w 1',
  '-a -t 10.96.0.10:80 -r 10.244.1.3:8080 -m -w 1',
  '-A -u 10.96.0.10:53 -s rr -p 10800',
  '-a -u 10.96.0.10:53 -r 10.244.1.4:53 -m -w 0',
  '-A -f 7 -s rr',
  '-A -t [fd00::10]:80 -s mh -b mh-port',
  '',
].join('\n');

test('ipvsadm -Sn: one block per virtual server with its real servers, id its service argument', () => {
  const buf = Buffer.from(IPVS);
  const blocks = ipvsBlocks(buf);
  assert.deepEqual(blocks.map((b) => b.id), ['-t 10.96.0.10:80', '-u 10.96.0.10:53', '-f 7', '-t [fd00::10]:80']);
  assert.deepEqual(blocks.map((b) => buf.toString('utf8', b.start, b.end).split('\n').filter((l) => l !== '').length), [3, 2, 1, 1]);
  assert.equal(blocks.map((b) => buf.toString('utf8', b.start, b.end)).join(''), IPVS, 'the blocks cover the dump exactly');
  assert.deepEqual(ipvsBlocks(Buffer.alloc(0)), [], 'an empty table');
});

test('a changed real server changes its block\'s digest only', () => {
  const a = ipvsBlocks(Buffer.from(IPVS));
  const b = ipvsBlocks(Buffer.from(IPVS.replace('10.244.1.4:53 -m -w 0', '10.244.1.4:53 -m -w 1')));
  assert.deepEqual(a.map((x, i) => x.digest === b[i]?.digest), [true, false, true, true]);
});

test('lines before the first virtual server form a block of their own (never taken for one)', () => {
  const blocks = ipvsBlocks(Buffer.from(`-a -t 10.96.0.9:80 -r 10.244.1.2:8080 -m -w 1\n${IPVS}`));
  assert.deepEqual(blocks.map((b) => b.id), ['', '-t 10.96.0.10:80', '-u 10.96.0.10:53', '-f 7', '-t [fd00::10]:80']);
});

test('ipset save: one block per set with its members, id the set name', () => {
  const text = [
    'create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x1',
    'add KUBE-CLUSTER-IP 10.96.0.10,tcp:80',
    'add KUBE-CLUSTER-IP 10.96.0.11,udp:53',
    'create KUBE-NODE-PORT-TCP bitmap:port range 0-65535',
    'create cni-set hash:ip family inet hashsize 1024 maxelem 65536',
    'add cni-set 10.1.1.1',
    '',
  ].join('\n');
  const buf = Buffer.from(text);
  const blocks = ipsetBlocks(buf);
  assert.deepEqual(blocks.map((b) => b.id), ['KUBE-CLUSTER-IP', 'KUBE-NODE-PORT-TCP', 'cni-set']);
  assert.equal(blocks.map((b) => buf.toString('utf8', b.start, b.end)).join(''), text);
});

test('ip -o addr show: kube-ipvs0\'s lines only, whatever the other interfaces do', () => {
  const lines = (lft: string) => [
    '1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever',
    `2: eth0    inet 192.168.1.10/24 brd 192.168.1.255 scope global dynamic eth0\\       valid_lft ${lft}sec preferred_lft ${lft}sec`,
    '5: kube-ipvs0    inet 10.96.0.10/32 scope global kube-ipvs0\\       valid_lft forever preferred_lft forever',
    '6: veth1    inet 10.0.0.1/32 scope global veth1\\       valid_lft forever preferred_lft forever label x: kube-ipvs0 y',
    '5: kube-ipvs0    inet6 fd00::10/128 scope global \\       valid_lft forever preferred_lft forever',
    '',
  ].join('\n');
  const a = linkAddressLines(Buffer.from(lines('3600')), 'kube-ipvs0');
  const b = linkAddressLines(Buffer.from(lines('3599')), 'kube-ipvs0');
  assert.deepEqual(a.lines.toString('utf8').split('\n').filter((l) => l !== '').map((l) => l.split(/\s+/)[3]), ['10.96.0.10/32', 'fd00::10/128']);
  assert.equal(a.digest, b.digest, 'eth0\'s lifetime counting down is not kube-ipvs0\'s');
  const c = linkAddressLines(Buffer.from(lines('3600').replace('10.96.0.10/32', '10.96.0.11/32')), 'kube-ipvs0');
  assert.notEqual(a.digest, c.digest);
});

test('ip -o addr show: every other interface\'s lines, kube-ipvs0\'s left out wherever they are', () => {
  const line = (i: number, name: string, addr: string): string => `${String(i)}: ${name}    inet ${addr} scope global ${name}\\       valid_lft forever preferred_lft forever\n`;
  const ours = (n: number): string => Array.from({ length: n }, (_, k) => line(5, 'kube-ipvs0', `10.96.0.${String(k)}/32`)).join('');
  const lo = line(1, 'lo', '127.0.0.1/8');
  const eth = line(2, 'eth0', '192.168.1.10/24');
  const label = line(6, 'veth1', '10.0.0.1/32').replace('forever\n', 'forever label x: kube-ipvs0 y\n');
  const names = (b: Buffer): string[] => b.toString('utf8').split('\n').filter((l) => l !== '').map((l) => l.split(/\s+/)[1] ?? '');
  assert.deepEqual(names(otherAddressLines(Buffer.from(lo + ours(3) + eth + label), 'kube-ipvs0')), ['lo', 'eth0', 'veth1']);
  assert.deepEqual(names(otherAddressLines(Buffer.from(ours(2) + lo + ours(1) + eth), 'kube-ipvs0')), ['lo', 'eth0']);
  assert.deepEqual(names(otherAddressLines(Buffer.from(lo + eth + ours(2)), 'kube-ipvs0')), ['lo', 'eth0']);
  assert.equal(otherAddressLines(Buffer.from(ours(2)), 'kube-ipvs0').length, 0);
  assert.deepEqual(names(otherAddressLines(Buffer.from(lo + eth), 'kube-ipvs0')), ['lo', 'eth0']);
});
