// --cleanup against the stateful fake kernel: a node left by kube-ipvs (nft) and kube-proxy
// (legacy), both families, next to a user's own IPVS services, chains and sets. Assertions
// read the fake's own tool output: ours all gone, theirs intact, a second run finds nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cleanup, CleanupError, isEmptyReport, type CleanupReport } from '../../src/apply/cleanup.ts';
import { Dataplane } from '../../src/apply/dataplane.ts';
import { tempSetName } from '../../src/tools/ipset.ts';
import { parseIptablesSave, ruleTarget } from '../../src/tools/iptables.ts';
import { FILTER_CHAINS, NAT_CHAINS } from '../../src/compute/model/iptables.ts';
import { parseCidr } from '../../src/compute/net/ip.ts';
import { silentLog, type Log } from '../../src/log.ts';
import { FakeKernel } from '../fakes/fake-kernel.ts';
import { compute, ep, makeService, makeSlice } from '../compute/builders.ts';

const NODE = ['192.168.1.10', 'fd00:192:168:1::10'];
const EXCLUDED = parseCidr('10.3.0.0/16')!;

function desired() {
  const web = makeService('d', 'web', {
    type: 'NodePort', clusterIP: '10.96.0.20', clusterIPs: ['10.96.0.20', 'fd00::20'], ipFamilies: ['IPv4', 'IPv6'],
    ipFamilyPolicy: 'RequireDualStack', ports: [{ name: 'p', port: 80, nodePort: 30080 }],
  });
  const dns = makeService('kube-system', 'dns', { clusterIP: '10.96.0.10', ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] });
  const endpointSlices = [
    makeSlice('d', 'web', [ep('10.244.1.1')], [{ name: 'p', port: 8080 }]),
    makeSlice('d', 'web', [ep('fd00:10:244::1')], [{ name: 'p', port: 8080 }], { name: 'web-v6', addressType: 'IPv6' }),
    makeSlice('kube-system', 'dns', [ep('10.244.1.2')], [{ name: 'dns', port: 53, protocol: 'UDP' }]),
  ];
  return compute({ services: [web, dns], endpointSlices }, { nodeAddresses: NODE }).desired;
}

const USER_IPVS = [
  '-A -t 172.16.0.1:80 -s rr', // a user's own service on another address
  '-A -t 192.168.1.10:8080 -s rr', // on a node address, on a port that is none of our NodePorts
  '-A -t 192.168.1.10:30500 -s rr', // the same, in kube-proxy's default NodePort range
  '-A -t 10.3.0.5:30001 -s rr', // bound on kube-ipvs0, but inside --ipvs-exclude-cidrs
  '-A -f 7 -s rr', // fwmark services are never ours
];

/** A node as kube-ipvs (nft) and an earlier kube-proxy (legacy) leave it, among a user's things. */
async function node(backends: readonly ('nft' | 'legacy')[] = ['nft', 'legacy']): Promise<FakeKernel> {
  const k = new FakeKernel();
  k.admin(['ip', 'addr', 'add', `${NODE[1]!}/64`, 'dev', 'eth0']);
  for (const backend of backends) {
    const dp = new Dataplane({ runner: k, families: [4, 6], excludeCidrs: [EXCLUDED], backend, log: silentLog });
    await dp.sync(desired(), { full: true });
  }
  k.admin(['ip', 'addr', 'add', '10.3.0.5/32', 'dev', 'kube-ipvs0']);
  k.admin(['ipvsadm', '-R'], `${USER_IPVS.join('\n')}\n`);
  k.admin(['ipset', 'restore'], `create user-set hash:ip\ncreate KUBE-DST-ABC hash:ip\ncreate ${tempSetName('KUBE-6-CLUSTER-IP')} hash:ip family inet6\n`);
  for (const bin of [`iptables-${backends[0] ?? 'nft'}-restore`, `ip6tables-${backends.at(-1) ?? 'nft'}-restore`]) {
    k.admin([bin, '--noflush'], [
      // Docker's chain (with a rule jumping into ours), kubelet's KUBE-FIREWALL, and a filter
      // KUBE-SERVICES as kube-proxy's iptables mode makes it: none of them ours.
      '*filter', ':DOCKER-USER - [0:0]', ':KUBE-FIREWALL - [0:0]', ':KUBE-SERVICES - [0:0]',
      '-A DOCKER-USER -j KUBE-FORWARD', '-A DOCKER-USER -j RETURN', '-A FORWARD -j DOCKER-USER',
      '-A INPUT -j KUBE-FIREWALL', '-A KUBE-FIREWALL -j DROP', 'COMMIT', '',
    ].join('\n'));
  }
  return k;
}

const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '').sort();
const OWNED: Readonly<Record<string, readonly string[]>> = { nat: NAT_CHAINS, filter: FILTER_CHAINS };
const BINARIES = ['iptables-nft', 'iptables-legacy', 'ip6tables-nft', 'ip6tables-legacy'];

function assertNoneOfOurs(k: FakeKernel): void {
  assert.deepEqual(lines(k.admin(['ipvsadm', '-Sn'])), lines(USER_IPVS.join('\n')));
  assert.deepEqual(lines(k.admin(['ipset', 'list', '-n'])), ['KUBE-DST-ABC', 'user-set']);
  assert.deepEqual([...k.ip.links.keys()], ['lo', 'eth0']);
  for (const bin of BINARIES) {
    for (const [name, table] of parseIptablesSave(k.admin([`${bin}-save`]))) {
      const owned = OWNED[name] ?? [];
      for (const [chain, c] of table) {
        assert.ok(!owned.includes(chain), `${bin} ${name} ${chain}`);
        for (const r of c.rules) assert.ok(!owned.includes(ruleTarget(r) ?? ''), `${bin} ${r}`);
      }
    }
  }
}

const count = (r: CleanupReport): Record<string, number> => Object.fromEntries(Object.entries(r).map(([k, v]: [string, unknown[]]) => [k, v.length]));

test('removes every virtual server, link, set, chain and jump of ours, in both backends and families, and nothing else', async () => {
  const k = await node();
  const report = await cleanup({ runner: k, log: silentLog, excludeCidrs: [EXCLUDED] });
  assertNoneOfOurs(k);
  assert.deepEqual([...report.virtualServers].sort(), [
    'TCP/10.96.0.20:80', 'TCP/192.168.1.10:30080', 'TCP/[fd00:192:168:1::10]:30080', 'TCP/[fd00::20]:80', 'UDP/10.96.0.10:53',
  ]);
  assert.deepEqual(report.links, ['kube-ipvs0']);
  assert.deepEqual([...report.addresses].sort(), ['10.3.0.5/32', '10.96.0.10/32', '10.96.0.20/32', 'fd00::20/128']);
  // 17 sets per family, plus the temporary set an interrupted swap left.
  assert.equal(report.sets.length, 35);
  assert.ok(report.sets.includes('KUBE-6-LOAD-BALANCER-SOURCE-CID'));
  assert.equal(report.chains.length, 4 * (NAT_CHAINS.length + FILTER_CHAINS.length));
  assert.deepEqual(report.jumps.filter((j) => j.text.includes('DOCKER-USER')).map((j) => `${j.binary} ${j.text}`).sort(),
    ['ip6tables-legacy -A DOCKER-USER -j KUBE-FORWARD', 'iptables-nft -A DOCKER-USER -j KUBE-FORWARD']);
  assert.equal(report.jumps.length, 4 * 9 + 2);
  // Docker's rules and kubelet's chain are left exactly as they were.
  const filter = parseIptablesSave(k.admin(['iptables-nft-save'])).get('filter')!;
  assert.deepEqual(filter.get('DOCKER-USER')?.rules, ['-A DOCKER-USER -j RETURN']);
  assert.deepEqual(filter.get('FORWARD')?.rules, ['-A FORWARD -j DOCKER-USER']);
  assert.deepEqual(filter.get('KUBE-FIREWALL')?.rules, ['-A KUBE-FIREWALL -j DROP']);
  assert.ok(filter.has('KUBE-SERVICES'));
});

test('a second run finds nothing, reads once per tool and writes nothing', async () => {
  const k = await node();
  await cleanup({ runner: k, log: silentLog, excludeCidrs: [EXCLUDED] });
  const before = k.callCount();
  const again = await cleanup({ runner: k, log: silentLog, excludeCidrs: [EXCLUDED] });
  assert.ok(isEmptyReport(again), JSON.stringify(again));
  // ip addr, ip link, ipvsadm -Sn, ipset list -n, four iptables saves.
  assert.equal(k.callCount() - before, 8);
});

test('one batch per tool: one ipvsadm -R, one ip link del, one ipset restore, one restore per iptables binary', async () => {
  const k = await node();
  k.calls.clear();
  await cleanup({ runner: k, log: silentLog, excludeCidrs: [EXCLUDED] });
  assert.deepEqual(Object.fromEntries([...k.calls].sort()), {
    ip: 3, ipset: 2, ipvsadm: 2,
    'ip6tables-legacy-restore': 1, 'ip6tables-legacy-save': 1, 'ip6tables-nft-restore': 1, 'ip6tables-nft-save': 1,
    'iptables-legacy-restore': 1, 'iptables-legacy-save': 1, 'iptables-nft-restore': 1, 'iptables-nft-save': 1,
  });
});

test('without exclusions a service on kube-ipvs0 is ours whatever its address; a NodePort is ours by its set, whatever the range', async () => {
  const k = await node();
  // A NodePort of a cluster whose range is 40000-40100, on an address the node no longer has.
  k.admin(['ipvsadm', '-A', '-t', '192.168.7.7:40050', '-s', 'rr']);
  k.admin(['ipset', 'add', 'KUBE-NODE-PORT-TCP', '40050']);
  const r = await cleanup({ runner: k, log: silentLog, excludeCidrs: [] });
  assert.ok(r.virtualServers.includes('TCP/10.3.0.5:30001'));
  assert.ok(r.virtualServers.includes('TCP/192.168.1.10:30080'));
  assert.ok(r.virtualServers.includes('TCP/192.168.7.7:40050'));
  assert.ok(!r.virtualServers.includes('TCP/192.168.1.10:8080'));
  assert.ok(!r.virtualServers.includes('TCP/192.168.1.10:30500'), 'in the default range, but not in KUBE-NODE-PORT-TCP');
});

test('a missing backend variant is not an error; with neither variant, the plain binary is used', async () => {
  const k = await node(['nft']);
  for (const t of ['iptables-legacy-save', 'ip6tables-legacy-save', 'ip6tables-nft-save']) k.uninstall(t);
  const r = await cleanup({ runner: k, log: silentLog, excludeCidrs: [EXCLUDED] });
  // ip6tables: no variant installed, so plain ip6tables-save (the fake's default is nft).
  assert.deepEqual([...new Set(r.chains.map((c) => c.binary))].sort(), ['ip6tables', 'iptables-nft']);
  assert.equal(k.callCount('ip6tables-restore'), 1);
});

test('a failing tool does not stop the others; the error names it and carries what was removed; a rerun finishes', async () => {
  const k = await node();
  k.failNext('iptables-nft-restore', { kind: 'exit', exitCode: 4, stderr: 'iptables-nft-restore: unable to initialize table \'nat\'\n' });
  k.failNext('ipvsadm', { kind: 'missing' });
  const e = await cleanup({ runner: k, log: silentLog, excludeCidrs: [EXCLUDED] }).then(() => undefined, (err: unknown) => err);
  assert.ok(e instanceof CleanupError);
  assert.equal(e.code, 'CLEANUP_FAILED');
  assert.deepEqual(e.errors.map((x: { tool: string }) => x.tool).sort(), ['iptables-nft', 'ipvsadm']);
  assert.match(e.message, /ipvsadm not found: install the Debian package ipvsadm/);
  const done = count(e.report);
  assert.equal(done.links, 0, 'kube-ipvs0 kept: its addresses mark our ClusterIP services for the rerun');
  assert.equal(done.chains, 3 * 11, 'the other three binaries were cleaned');
  // Sets still matched by the IPv4 nft rules stay (destroying them would fail); the rest went.
  assert.ok(!e.report.sets.includes('KUBE-CLUSTER-IP'));
  assert.ok(e.report.sets.includes('KUBE-6-CLUSTER-IP'));
  assert.equal(done.virtualServers, 0);
  // Once fixed, a rerun removes the rest.
  const rest = await cleanup({ runner: k, log: silentLog, excludeCidrs: [EXCLUDED] });
  assert.equal(rest.virtualServers.length, 5);
  assert.equal(rest.chains.length, 11);
  assertNoneOfOurs(k);
});

test('a set that a rule we do not own still matches is kept, with a warning, not an error', async () => {
  const k = await node();
  k.admin(['iptables-legacy-restore', '--noflush'], '*filter\n-A INPUT -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT\nCOMMIT\n');
  const warnings: string[] = [];
  const log: Log = { ...silentLog, warn: (_o, msg) => { warnings.push(msg); } };
  const r = await cleanup({ runner: k, log, excludeCidrs: [EXCLUDED] });
  assert.ok(!r.sets.includes('KUBE-CLUSTER-IP'));
  assert.ok(r.sets.includes('KUBE-6-CLUSTER-IP'));
  assert.match(warnings.join('\n'), /ipsets kept/);
  assert.deepEqual(lines(k.admin(['ipset', 'list', '-n'])), ['KUBE-CLUSTER-IP', 'KUBE-DST-ABC', 'user-set']);
});

test('ipvsadm -R exits 0 after a failed line: the table is re-read, and only what went is reported', async () => {
  const k = await node();
  k.failLine('ipvsadm', '-D -u 10.96.0.10:53', 'Memory allocation problem');
  const e = await cleanup({ runner: k, log: silentLog, excludeCidrs: [EXCLUDED] }).then(() => undefined, (err: unknown) => err);
  assert.ok(e instanceof CleanupError);
  assert.match(e.message, /ipvsadm: restore reported: Memory allocation problem/);
  assert.equal(e.report.virtualServers.length, 4);
  assert.ok(!e.report.virtualServers.includes('UDP/10.96.0.10:53'));
  assert.deepEqual(e.report.links, [], 'kube-ipvs0 kept: its addresses mark our ClusterIP services for the rerun');
  assert.deepEqual((await cleanup({ runner: k, log: silentLog, excludeCidrs: [EXCLUDED] })).virtualServers, ['UDP/10.96.0.10:53']);
  assertNoneOfOurs(k);
});
