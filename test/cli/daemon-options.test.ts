// The daemon's flags and config file: kube-proxy's names, defaults, validation, precedence.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfigFile } from '../../src/config/file.ts';
import { resolveAll } from '../../src/cli/run-daemon.ts';
import { resolveDaemonOptions } from '../../src/config/merged.ts';
import { conntrackSysctls } from '../../src/apply/sysctl.ts';
import { run } from '../../src/cli/run.ts';
import { FakeKernel } from '../fakes/fake-kernel.ts';

test('defaults are kube-proxy\'s IPVS-mode defaults', () => {
  const o = resolveDaemonOptions({});
  assert.deepEqual([o.syncPeriodMs, o.minSyncPeriodMs, o.healthzBindAddress, o.metricsBindAddress, o.bindAddress, o.oomScoreAdj],
    [30_000, 0, '0.0.0.0:10256', '127.0.0.1:10249', '0.0.0.0', -999]);
  assert.deepEqual(o.conntrack, { maxPerCore: 32768, min: 131072, tcpEstablished: 86_400, tcpCloseWait: 3600, udp: 0, udpStream: 0, tcpBeLiberal: false });
});

test('bad values are all reported at once, naming the flag and what is accepted', () => {
  assert.throws(() => resolveDaemonOptions({ proxyMode: 'iptables', syncPeriod: '10', minSyncPeriod: '1m', healthzBindAddress: 'localhost', oomScoreAdj: 5000 }), (e: unknown) => {
    const msg = (e as Error).message;
    for (const want of [/--proxy-mode: "iptables" is not supported: kube-ipvs implements only "ipvs"/, /--ipvs-sync-period: "10" is not a duration/,
      /--healthz-bind-address: "localhost" is not IP:port/, /--oom-score-adj: 5000 must be an integer in \[-1000, 1000\]/]) assert.match(msg, want);
    return true;
  });
  assert.throws(() => resolveDaemonOptions({ syncPeriod: '10s', minSyncPeriod: '1m' }), /--ipvs-min-sync-period: must not exceed --ipvs-sync-period/);
});

test('flags use kube-proxy\'s spellings, --flag=value and --flag value alike; bad ones exit 2', async () => {
  let err = '';
  const io = { stdout: () => undefined, stderr: (s: string) => { err += s; }, readStdin: () => Promise.resolve('') };
  assert.equal(await run(['--proxy-mode=iptables', '--hostname-override', 'n'], io), 2);
  assert.match(err, /--proxy-mode: "iptables" is not supported/);
  err = '';
  assert.equal(await run(['--ipvs-sync-period', 'soon'], io), 2);
  assert.match(err, /--ipvs-sync-period: "soon" is not a duration/);
  err = '';
  assert.equal(await run(['--ipvs-strict-arp=maybe'], io), 2);
  assert.match(err, /--ipvs-strict-arp: "maybe" is not a boolean/);
});

test('--config as kubeadm writes it wins over flags, except --hostname-override; --write-config-to round-trips', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kube-ipvs-'));
  const cfg = join(dir, 'config.conf');
  writeFileSync(cfg, [
    'apiVersion: kubeproxy.config.k8s.io/v1alpha1', 'kind: KubeProxyConfiguration', 'mode: ipvs',
    'bindAddress: 0.0.0.0', 'clusterCIDR: 10.244.0.0/16', 'hostnameOverride: from-file',
    'clientConnection: {kubeconfig: /var/lib/kube-proxy/kubeconfig.conf, qps: 5}',
    'conntrack: {maxPerCore: 0, min: null, tcpEstablishedTimeout: 12h0m0s}',
    'ipvs: {scheduler: lc, strictARP: true, syncPeriod: 1m0s, minSyncPeriod: 1s, excludeCIDRs: [10.3.0.0/16], udpTimeout: 5m}',
    'iptables: {masqueradeAll: true, masqueradeBit: 14}', 'nodePortAddresses: null', 'oomScoreAdj: -998', '',
  ].join('\n'));
  const warnings: string[] = [];
  const r = await resolveAll({ config: cfg, ipvsScheduler: 'rr', hostnameOverride: 'node-a' }, (s) => { warnings.push(s); });
  assert.deepEqual([r.config.scheduler, r.config.nodeName, r.config.strictArp, r.config.masqueradeAll], ['lc', 'node-a', true, true]);
  assert.deepEqual([r.options.syncPeriodMs, r.options.minSyncPeriodMs, r.options.ipvsTimeouts.udp, r.options.conntrack.tcpEstablished], [60_000, 1000, 300, 43_200]);
  assert.equal(r.options.kubeconfig, '/var/lib/kube-proxy/kubeconfig.conf');
  assert.deepEqual(warnings, [`--ipvs-scheduler is ignored: --config ${cfg} takes precedence (as in kube-proxy)`]);
  const out = join(dir, 'effective.yaml');
  const io = { stdout: () => undefined, stderr: () => undefined, readStdin: () => Promise.resolve('') };
  assert.equal(await run(['--config', cfg, '--hostname-override', 'node-a', '--write-config-to', out], io), 0);
  const again = await resolveAll({ config: out }, () => undefined);
  assert.deepEqual([again.config, again.options], [r.config, r.options]);
  assert.match(readFileSync(out, 'utf8'), /^apiVersion: kubeproxy.config.k8s.io\/v1alpha1\nkind: KubeProxyConfiguration\n(.+\n)*mode: ipvs\n/);
  assert.deepEqual(await resolveAll({ config: out }, (w) => { assert.fail(`no warning expected for its own output: ${w}`); }).then(() => 'ok'), 'ok');
});

test('a config file with the wrong types names the fields', () => {
  assert.throws(() => parseConfigFile('apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nipvs: {strictARP: "yes", syncPeriod: 30}\n', 'c.yaml'),
    (e: unknown) => /--config c\.yaml: ipvs\.strictARP: expected a boolean, got "yes"/.test(String(e)) && /--config c\.yaml: ipvs\.syncPeriod: expected a string, got 30/.test(String(e)));
});

test('conntrack settings: nf_conntrack_max only ever raised; zero timeouts left alone', async () => {
  const k = new FakeKernel();
  k.proc.set('net/netfilter/nf_conntrack_max', '262144');
  k.proc.set('net/netfilter/nf_conntrack_tcp_timeout_established', '432000');
  k.proc.set('net/netfilter/nf_conntrack_udp_timeout', '30');
  const c = { maxPerCore: 32768, min: 131072, tcpEstablished: 86_400, tcpCloseWait: 0, udp: 0, udpStream: 0, tcpBeLiberal: false };
  assert.deepEqual((await conntrackSysctls(k.sysctl, c, 16)).changes.map((x) => `${x.name}=${x.to}`), [
    'net/netfilter/nf_conntrack_max=524288', 'net/netfilter/nf_conntrack_tcp_timeout_established=86400',
  ]);
  assert.deepEqual(await conntrackSysctls(k.sysctl, { ...c, maxPerCore: 1000 }, 4), { changes: [], failed: [] }, 'never lowered');
  assert.equal(k.proc.get('net/netfilter/nf_conntrack_udp_timeout'), '30');
});

test('conntrack settings: a read-only nf_conntrack_max (a non-initial netns) is reported and the rest still set', async () => {
  const k = new FakeKernel();
  k.proc.set('net/netfilter/nf_conntrack_max', '65536');
  k.readOnlyProc.add('net/netfilter/nf_conntrack_max');
  k.proc.set('net/netfilter/nf_conntrack_udp_timeout', '30');
  const c = { maxPerCore: 32768, min: 131072, tcpEstablished: 0, tcpCloseWait: 0, udp: 60, udpStream: 0, tcpBeLiberal: false };
  const r = await conntrackSysctls(k.sysctl, c, 2);
  assert.deepEqual(r.failed.map((f) => [f.name, f.to, /EACCES/.test(f.error)]), [['net/netfilter/nf_conntrack_max', '131072', true]]);
  assert.deepEqual(r.changes.map((x) => `${x.name}=${x.to}`), ['net/netfilter/nf_conntrack_udp_timeout=60']);
  assert.deepEqual([k.proc.get('net/netfilter/nf_conntrack_max'), k.proc.get('net/netfilter/nf_conntrack_udp_timeout')], ['65536', '60']);
});

test('per-Service metrics are off by default; --metrics-per-service or metricsPerService in --config turn them on', async () => {
  assert.equal(resolveDaemonOptions({}).metricsPerService, false);
  assert.equal((await resolveAll({ metricsPerService: true }, () => undefined)).options.metricsPerService, true);
  const dir = mkdtempSync(join(tmpdir(), 'kube-ipvs-'));
  const cfg = join(dir, 'config.conf');
  writeFileSync(cfg, 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmetricsPerService: true\n');
  assert.equal((await resolveAll({ config: cfg }, () => undefined)).options.metricsPerService, true);
  assert.throws(() => parseConfigFile('apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmetricsPerService: "yes"\n', 'c.yaml'),
    /metricsPerService: expected a boolean/);
});
