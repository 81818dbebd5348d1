// Runs inside the VM (make e2e): --cleanup with the real tools on a real kernel. The node holds
// what kube-ipvs programs (nft), what an earlier kube-proxy left (legacy), IPv4 and IPv6, and a
// user's own IPVS service, chain and set made before; afterwards only the user's things remain.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cleanup, isEmptyReport } from '../../src/apply/cleanup.ts';
import { Dataplane } from '../../src/apply/dataplane.ts';
import { execaRunner, type Runner } from '../../src/apply/exec.ts';
import { tempSetName } from '../../src/tools/ipset.ts';
import { silentLog } from '../../src/log.ts';
import { compute, ep, makeService, makeSlice } from '../compute/builders.ts';
import { addNodeAddress, sh } from './lab.ts';

const NODE = ['192.168.1.10', 'fd00:192:168:1::10'];
const BINARIES = ['iptables-nft', 'iptables-legacy', 'ip6tables-nft', 'ip6tables-legacy'];
/** execaRunner, noting how long each command took, for the report. */
function timed(): Runner & { readonly took: string[] } {
  const took: string[] = [];
  return {
    took,
    async run(argv, opts) {
      const t0 = performance.now();
      try { return await execaRunner.run(argv, opts); } finally { took.push(`${argv.slice(0, 3).join(' ')} ${Math.round(performance.now() - t0)}ms`); }
    },
  };
}
const save = (bin: string): string => execFileSync(`${bin}-save`, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '' && !l.startsWith('#'));

function desired() {
  const web = makeService('d', 'web', {
    type: 'LoadBalancer', clusterIP: '10.96.0.20', clusterIPs: ['10.96.0.20', 'fd00::20'], ipFamilies: ['IPv4', 'IPv6'],
    ipFamilyPolicy: 'RequireDualStack', ports: [{ name: 'p', port: 80, nodePort: 30080 }], loadBalancerSourceRanges: ['203.0.113.0/24'],
  }, { status: { loadBalancer: { ingress: [{ ip: '198.51.100.7' }] } } });
  const dns = makeService('kube-system', 'dns', { clusterIP: '10.96.0.10', ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] });
  const endpointSlices = [
    makeSlice('d', 'web', [ep('10.244.1.5')], [{ name: 'p', port: 8080 }]),
    makeSlice('d', 'web', [ep('fd00:10:244::5')], [{ name: 'p', port: 8080 }], { name: 'web-v6', addressType: 'IPv6' }),
    makeSlice('kube-system', 'dns', [ep('10.244.1.6')], [{ name: 'dns', port: 53, protocol: 'UDP' }]),
  ];
  return compute({ services: [web, dns], endpointSlices }, { nodeAddresses: NODE, clusterCidr: '10.244.0.0/16,fd00:10:244::/56' }).desired;
}

before(async () => {
  addNodeAddress(NODE[0]!);
  sh('ip', 'addr', 'add', `${NODE[1]!}/128`, 'dev', 'node0', 'nodad');
  // The user's own things, there before kube-ipvs.
  sh('ipvsadm', '-A', '-t', '172.16.0.1:80', '-s', 'rr');
  sh('ipset', 'create', 'user-set', 'hash:ip');
  for (const bin of ['iptables-nft', 'ip6tables-legacy']) {
    sh(bin, '-N', 'DOCKER-USER');
    sh(bin, '-A', 'DOCKER-USER', '-j', 'RETURN');
    sh(bin, '-A', 'FORWARD', '-j', 'DOCKER-USER');
  }
  for (const backend of ['nft', 'legacy'] as const) {
    const dp = new Dataplane({ runner: execaRunner, families: [4, 6], excludeCidrs: [], backend, log: silentLog });
    await dp.sync(desired(), { full: true });
  }
  // A swap script interrupted half-way leaves its temporary set.
  sh('ipset', 'create', tempSetName('KUBE-LOAD-BALANCER'), 'hash:ip,port');
});

test('the node holds kube-ipvs\' and kube-proxy\'s state in both backends and families before cleanup', () => {
  assert.ok(lines(sh('ipvsadm', '-Sn')).length > 5);
  assert.match(sh('ip', '-o', 'link', 'show'), /kube-ipvs0/);
  assert.ok(lines(sh('ipset', 'list', '-n')).includes('KUBE-6-CLUSTER-IP'));
  for (const bin of BINARIES) assert.match(save(bin), /-A KUBE-SERVICES/, bin);
});

test('cleanup leaves only the user\'s things; a second run finds nothing', async (t) => {
  const runner = timed();
  let start = performance.now();
  const report = await cleanup({ runner, log: silentLog, excludeCidrs: [] });
  const first = performance.now() - start;
  assert.deepEqual(lines(sh('ipvsadm', '-Sn')), ['-A -t 172.16.0.1:80 -s rr']);
  assert.deepEqual(lines(sh('ipset', 'list', '-n')), ['user-set']);
  assert.doesNotMatch(sh('ip', '-o', 'link', 'show'), /kube-ipvs0/);
  assert.match(sh('ip', '-o', 'addr', 'show', 'dev', 'node0'), /192\.168\.1\.10\/32/);
  for (const bin of BINARIES) {
    const saved = save(bin);
    assert.doesNotMatch(saved, /KUBE-/, bin);
    const mine = bin === 'iptables-nft' || bin === 'ip6tables-legacy';
    assert.equal(lines(saved).includes('-A FORWARD -j DOCKER-USER'), mine, `${bin}: the user's jump`);
    assert.equal(lines(saved).includes('-A DOCKER-USER -j RETURN'), mine, `${bin}: the user's chain`);
  }
  assert.ok(report.virtualServers.includes('TCP/198.51.100.7:80') && report.virtualServers.includes('TCP/[fd00:192:168:1::10]:30080'));
  assert.equal(report.sets.length, 35);
  assert.equal(report.chains.length, 4 * 11);
  assert.equal(report.jumps.length, 4 * 9);
  t.diagnostic(`commands: ${runner.took.join(', ')}`);
  start = performance.now();
  const again = await cleanup({ runner: execaRunner, log: silentLog, excludeCidrs: [] });
  const second = performance.now() - start;
  assert.ok(isEmptyReport(again), JSON.stringify(again));
  t.diagnostic(`cleanup: ${Math.round(first)} ms (${report.virtualServers.length} virtual servers, ${report.chains.length} chains); second run ${Math.round(second)} ms`);
});
