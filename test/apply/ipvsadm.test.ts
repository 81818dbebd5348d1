import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyIpvsBatch, readIpvs, setTimeouts, readConnCounts, readStats } from '../../src/apply/ipvsadm.ts';
import { formatIpvsBatch, formatIpvsOp, parseIpvsadmSave, type IpvsOp, type ObservedService, parseConnCounts, parseStats } from '../../src/tools/ipvsadm.ts';
import { parseIp, type Ip } from '../../src/compute/net/ip.ts';
import { virtualServerKey, type Protocol, type VirtualServer } from '../../src/compute/model/types.ts';
import { FakeKernel } from '../fakes/fake-kernel.ts';
import { fixture } from './fixtures.ts';

const ip = (s: string): Ip => parseIp(s) ?? assert.fail(s);

function vs(protocol: Protocol, addr: string, port: number, o: Partial<VirtualServer> = {}): VirtualServer {
  const i = ip(addr);
  return {
    key: virtualServerKey(protocol, i, port), protocol, ip: i, port, scheduler: 'rr', schedulerFlags: [],
    realServers: [], kind: 'cluster-ip', service: { namespace: 'default', name: 'svc', port: '' }, ...o,
  };
}

/** The fields both sides have, for comparing desired with observed. */
const shape = (s: ObservedService | VirtualServer): object => {
  const target = 'target' in s ? s.target : { kind: 'address', protocol: s.protocol, ip: s.ip, port: s.port };
  return {
    key: s.key, target, scheduler: s.scheduler, schedulerFlags: s.schedulerFlags, persistence: s.persistence,
    realServers: s.realServers.map((r) => ({ ip: r.ip.text, port: r.port, weight: r.weight })),
  };
};

test('ipvsadm -Sn: every kind of virtual server a node can hold is read', () => {
  const t = parseIpvsadmSave(fixture('ipvsadm-save.txt'));
  assert.deepEqual(t.skipped, []);
  assert.deepEqual([...t.services.keys()], [
    'TCP/10.96.0.10:80', 'TCP/10.96.0.11:443', 'TCP/10.96.0.13:80', 'TCP/10.96.0.14:80', 'UDP/10.96.0.10:53',
    'UDP/10.96.0.30:514', 'SCTP/10.96.0.20:3868', 'TCP/[fd00::10]:80', 'FWM/100',
  ]);
  const get = (k: string): ObservedService => t.services.get(k) ?? assert.fail(k);
  assert.deepEqual(get('TCP/10.96.0.10:80').realServers.map((r) => [r.ip.text, r.port, r.weight, r.forwarding]),
    [['10.244.1.5', 8080, 1, 'masq'], ['10.244.2.6', 8080, 0, 'masq']]);
  assert.equal(get('TCP/10.96.0.11:443').persistence, 10800);
  assert.deepEqual(get('TCP/10.96.0.13:80').schedulerFlags, ['mh-fallback', 'mh-port']);
  const masked = get('TCP/10.96.0.14:80');
  assert.deepEqual([masked.scheduler, masked.persistence, masked.netmask, masked.realServers[0]?.forwarding], ['wrr', 300, '255.255.255.0', 'ipip']);
  assert.deepEqual(get('UDP/10.96.0.30:514').otherOptions, ['-o']);
  assert.deepEqual(get('TCP/[fd00::10]:80').realServers.map((r) => r.ip.text), ['fd00:10:244::5']);
  const fwm = get('FWM/100');
  assert.deepEqual([fwm.target, fwm.scheduler, fwm.realServers[0]?.forwarding, fwm.realServers[0]?.port], [{ kind: 'fwmark', mark: 100 }, 'wlc', 'gate', 0]);
});

test('ipvsadm -Sn: the common real-server line reads the same as through the general tokenizer', () => {
  // Double spaces send every line through the general path; single spaces take the short one
  // for `-a <target> -r <ip:port> -m|-g|-i -w <n>` lines. Same table, same skipped lines.
  const text = `${fixture('ipvsadm-save.txt')}-A -u 10.96.0.40:53 -s rr
-a -u 10.96.0.40:53 -r 10.244.3.1:53 -m -w 0
-a -u 10.96.0.40:53 -r 10.244.3.2:53 -i -w 65535
-a -u 10.96.0.40:53 -r 10.244.3.3:53 -m -w -1
-a -u 10.96.0.40:53 -r 10.244.3.4:53 -x -w 1
-a -u 10.96.0.40:53 -r 10.244.3.5 -m -w 1
-a -u 10.96.0.41:53 -r 10.244.3.6:53 -m -w 1
-a -t [fd00::10]:80 -r [fd00:10:244::6]:8080 -g -w 3
-a -t bogus -r 10.244.3.7:53 -m -w 1
`;
  const general = parseIpvsadmSave(text.replace(/ /g, '  '));
  const fast = parseIpvsadmSave(text);
  assert.deepEqual(fast.services, general.services);
  assert.deepEqual(fast.skipped, general.skipped.map((l) => l.replace(/ {2}/g, ' ')));
  assert.deepEqual(fast.services.get('UDP/10.96.0.40:53')?.realServers.map((r) => [r.ip.text, r.weight, r.forwarding]),
    [['10.244.3.1', 0, 'masq'], ['10.244.3.2', 65535, 'ipip'], ['10.244.3.3', 1, 'masq'], ['10.244.3.4', 1, 'gate']]);
  assert.equal(fast.skipped.length, 3);
});

test('ipvsadm -Sn: lines it cannot read are reported, not guessed at', () => {
  const t = parseIpvsadmSave('-A -t 10.0.0.1:80 -s rr --future-option x\n-A -t bogus -s rr\n-a -t 10.9.9.9:1 -r 10.0.0.2:80 -m -w 1\n');
  assert.deepEqual(t.services.get('TCP/10.0.0.1:80')?.otherOptions, ['--future-option', 'x']);
  assert.deepEqual(t.skipped, ['-A -t bogus -s rr', '-a -t 10.9.9.9:1 -r 10.0.0.2:80 -m -w 1']);
});

test('ipvsadm -Ln --exact: connection counts per real server', () => {
  const c = parseConnCounts(fixture('ipvsadm-Ln-exact.txt'));
  // three finished requests to the one backend that answers: TIME_WAIT entries, i.e. inactive
  assert.deepEqual(c.get('TCP/10.96.0.10:80')?.map((r) => [r.ip.text, r.port, r.weight, r.activeConns, r.inactiveConns]),
    [['10.244.1.5', 8080, 1, 0, 3], ['10.244.2.6', 8080, 0, 0, 0]]);
  assert.deepEqual(parseConnCounts('TCP  10.0.0.1:80 rr\n  -> 10.0.0.2:80  Masq  1  12345678901  0\n').get('TCP/10.0.0.1:80')?.[0]?.activeConns, 12345678901);
  assert.equal(c.size, 9);
  assert.deepEqual(c.get('TCP/10.96.0.13:80'), []);
  assert.equal(c.get('FWM/100')?.[0]?.weight, 2);
});

test('ipvsadm -Ln --stats --exact: counters per service and real server', () => {
  const s = parseStats(fixture('ipvsadm-Ln-stats-exact.txt'));
  const web = s.get('TCP/10.96.0.10:80');
  // all traffic went to the one backend that answers
  assert.equal(web?.stats.conns, 3);
  assert.ok(web.stats.inBytes > 0 && web.stats.outPkts > 0);
  assert.deepEqual(web.realServers.map((r) => [r.ip.text, r.stats]), [['10.244.1.5', web.stats], ['10.244.2.6', { conns: 0, inPkts: 0, outPkts: 0, inBytes: 0, outBytes: 0 }]]);
  assert.equal(s.size, 9);
  assert.equal(s.get('TCP/[fd00::10]:80')?.realServers[0]?.ip.text, 'fd00:10:244::5');
});

test('batch lines for every operation, as ipvsadm reads them', () => {
  const web = vs('TCP', '10.96.0.10', 80, { persistence: 10800 });
  const rs = { ip: ip('10.244.1.5'), port: 8080, weight: 0, forwarding: 'masq' as const };
  const v6 = vs('UDP', 'fd00::a', 53);
  const ops: IpvsOp[] = [
    { op: 'add-service', vs: web }, { op: 'edit-service', vs: web }, { op: 'delete-service', vs: v6 },
    { op: 'add-real', vs: web, rs }, { op: 'edit-real', vs: web, rs }, { op: 'delete-real', vs: v6, rs: { ip: ip('fd00::5'), port: 53 } },
  ];
  assert.deepEqual(ops.map(formatIpvsOp), [
    '-A -t 10.96.0.10:80 -s rr -p 10800', '-E -t 10.96.0.10:80 -s rr -p 10800', '-D -u [fd00::a]:53',
    '-a -t 10.96.0.10:80 -r 10.244.1.5:8080 -m -w 0', '-e -t 10.96.0.10:80 -r 10.244.1.5:8080 -m -w 0',
    '-d -u [fd00::a]:53 -r [fd00::5]:53',
  ]);
  assert.equal(formatIpvsBatch([]), '');
});

test('round trip: a batch applied to the kernel reads back as the same virtual servers', async () => {
  const k = new FakeKernel();
  const rs = (a: string, port: number, weight = 1) => ({ ip: ip(a), port, weight, forwarding: 'masq' as const });
  const want = [
    vs('TCP', '10.96.0.10', 80, { realServers: [rs('10.244.1.5', 8080), rs('10.244.2.6', 8080, 0)] }),
    vs('UDP', '10.96.0.10', 53, { realServers: [rs('10.244.1.7', 53)] }),
    vs('SCTP', '10.96.0.20', 3868, { persistence: 10800 }),
    vs('TCP', '10.96.0.13', 80, { scheduler: 'mh', schedulerFlags: ['mh-fallback', 'mh-port'] }),
    vs('TCP', 'fd00::10', 80, { scheduler: 'sh', schedulerFlags: ['sh-port'], realServers: [rs('fd00:10:244::5', 8080)] }),
  ];
  const ops = want.flatMap((v): IpvsOp[] => [{ op: 'add-service', vs: v }, ...v.realServers.map((r): IpvsOp => ({ op: 'add-real', vs: v, rs: r }))]);
  assert.deepEqual(await applyIpvsBatch(k, formatIpvsBatch(ops)), { clean: true, messages: [], exitCode: 0 });
  const got = await readIpvs(k);
  assert.deepEqual([...got.services.values()].map(shape), want.map(shape));

  // and edits/deletes land too
  const web = want[0] ?? assert.fail();
  await applyIpvsBatch(k, formatIpvsBatch([
    { op: 'edit-real', vs: web, rs: rs('10.244.1.5', 8080, 0) }, { op: 'delete-real', vs: web, rs: rs('10.244.2.6', 8080) },
    { op: 'edit-service', vs: { ...web, scheduler: 'wrr', persistence: 60 } }, { op: 'delete-service', vs: want[1] ?? assert.fail() },
  ]));
  const after = (await readIpvs(k)).services;
  assert.equal(after.has('UDP/10.96.0.10:53'), false);
  const w = after.get('TCP/10.96.0.10:80');
  assert.deepEqual([w?.scheduler, w?.persistence, w?.realServers.map((r) => [r.ip.text, r.weight])], ['wrr', 60, [['10.244.1.5', 0]]]);
});

test('a batch whose middle line fails is reported unclean although ipvsadm exits 0', async () => {
  const k = new FakeKernel();
  const a = vs('TCP', '10.96.0.1', 80);
  const b = vs('TCP', '10.96.0.2', 80);
  await applyIpvsBatch(k, formatIpvsBatch([{ op: 'add-service', vs: a }]));
  const r = await applyIpvsBatch(k, formatIpvsBatch([{ op: 'add-service', vs: a }, { op: 'add-service', vs: b }]));
  assert.deepEqual(r, { clean: false, messages: ['Service already exists'], exitCode: 0 });
  assert.ok((await readIpvs(k)).services.has(b.key), 'later lines still ran');
  // the last line failing: ipvsadm exits non-zero, still a result, not a throw
  const last = await applyIpvsBatch(k, formatIpvsBatch([{ op: 'delete-service', vs: vs('TCP', '10.96.0.9', 80) }]));
  assert.deepEqual(last, { clean: false, messages: ['No such service'], exitCode: 255 });
});

test('a missing ipvsadm still throws', async () => {
  const k = new FakeKernel();
  k.uninstall('ipvsadm');
  await assert.rejects(applyIpvsBatch(k, '-C\n'), { code: 'TOOL_MISSING' });
});

test('timeouts, counts and stats are read through the runner', async () => {
  const k = new FakeKernel();
  await setTimeouts(k, 900, 0, 60);
  assert.deepEqual(k.ipvs.timeouts, { tcp: 900, tcpfin: 120, udp: 60 });
  k.admin(['ipvsadm', '-A', '-t', '10.96.0.1:80', '-s', 'rr']);
  k.admin(['ipvsadm', '-a', '-t', '10.96.0.1:80', '-r', '10.244.0.1:80', '-m', '-w', '1']);
  const rs = k.ipvs.services.get('TCP 10.96.0.1:80')?.reals.get('10.244.0.1:80') ?? assert.fail();
  rs.activeConns = 4;
  rs.stats.inBytes = 2 ** 40;
  assert.equal((await readConnCounts(k)).get('TCP/10.96.0.1:80')?.[0]?.activeConns, 4);
  assert.equal((await readStats(k)).get('TCP/10.96.0.1:80')?.realServers[0]?.stats.inBytes, 2 ** 40);
});
