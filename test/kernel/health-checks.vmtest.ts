// Active health checks on the real kernel, with traffic (issue 16): a backend whose packets are
// dropped (iptables in its network namespace) while Kubernetes still calls it ready. With the
// annotation it is out of rotation (weight 0) within interval × failures plus a sync, and no
// request fails after that; without it, requests keep failing for the whole window. Once its
// packets flow again it comes back. Both checks run in kube-ipvs-prober, which the daemon must
// be using: the HTTP one on a kept-alive connection (the helper's, as ss shows), the TCP check
// of a third Service as SYN probes on a raw socket.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { TestApiServer } from '../support/apiserver/index.ts';
import { addNodeAddress, sh, stopBackend, type Backend } from './lab.ts';
import { KubeIpvs, NODE_IP, be, fetchName, metric, realServers, slice, startApi, startBackendOnce, svc, waitFor } from './e2e-lab.ts';

let api: TestApiServer;
let daemon: KubeIpvs;
let backends: Backend[] = [];

const CHECKED = '10.96.0.80';
const UNCHECKED = '10.96.0.81';
const TCP_CHECKED = '10.96.0.82';
const dropIn = (n: number): string[] => ['netns', 'exec', `be${n}`, 'iptables', '-w', '5', '-I', 'INPUT', '-p', 'tcp', '--dport', '8080', '-j', 'DROP'];
const flowIn = (n: number): string[] => ['netns', 'exec', `be${n}`, 'iptables', '-w', '5', '-D', 'INPUT', '-p', 'tcp', '--dport', '8080', '-j', 'DROP'];

before(async () => {
  try {
    addNodeAddress(NODE_IP);
    api = await startApi();
    // Defaults: interval 1s, timeout 1s, 3 failures out, 2 successes back.
    api.create(svc('checked', CHECKED, {}, { annotations: { 'ipvs.kube-ipvs.io/health-check': 'http:/' } }));
    api.create(slice('checked', [be(31), be(32)]));
    api.create(svc('unchecked', UNCHECKED));
    api.create(slice('unchecked', [be(31), be(32)]));
    api.create(svc('tcp-checked', TCP_CHECKED, {}, { annotations: { 'ipvs.kube-ipvs.io/health-check': 'tcp' } }));
    api.create(slice('tcp-checked', [be(31), be(32)]));
    daemon = new KubeIpvs(api, ['--ipvs-sync-period=30s', '--ipvs-min-sync-period=1s']);
    daemon.start();
    backends = await Promise.all([31, 32].map(startBackendOnce));
    await daemon.synced();
  } catch (e) {
    console.error('health-checks setup failed:', e);
    throw e;
  }
});

after(async () => {
  const exit = await daemon.stop();
  await api.stop();
  backends.forEach(stopBackend);
  assert.deepEqual(exit, { code: 0, signal: null }, 'SIGTERM: exit 0');
});

const weights = (vip: string): string[] => (realServers(`${vip}:80`) ?? []).map((r) => `${r.addr} ${r.weight}`).sort();

/** Fresh-connection GETs, 1 s timeout each: the answers (`error: …` for a failed one). */
async function requests(vip: string, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(await fetchName(`http://${vip}/`, 1000));
  return out;
}

test('a backend that stops answering while ready is out of rotation within interval × failures + a sync; no failed request after; it comes back', async (t) => {
  // Both in rotation and answering, both Services.
  await waitFor(() => weights(CHECKED), (w) => w.length === 2, 'the checked Service programmed', 30_000);
  assert.deepEqual(weights(CHECKED), [`${be(31)}:8080 1`, `${be(32)}:8080 1`]);
  assert.deepEqual(weights(TCP_CHECKED), [`${be(31)}:8080 1`, `${be(32)}:8080 1`]);
  // TCP and HTTP checks by kube-ipvs-prober (built by make e2e on the host; the VM runs the host's files).
  for (const kind of ['tcp', 'http']) {
    await waitFor(() => metric('kubeipvs_health_check_prober', { kind, prober: 'native' }), (n) => n === 1, `kube-ipvs-prober in use for ${kind}`, 30_000);
  }
  assert.match(daemon.logs, /health checks: TCP and HTTP probes by kube-ipvs-prober/);
  assert.doesNotMatch(daemon.logs, /probes run in-process/);
  // Debian's 6.1 kernel has io_uring with deferred task running: the HTTP checks use it.
  const io = /"io":"([a-z_]+)"/.exec(daemon.logs)?.[1];
  t.diagnostic(`kube-ipvs-prober's HTTP checks: ${io ?? 'I/O not said'}`);
  assert.equal(io, 'io_uring');
  await waitFor(() => metric('kubeipvs_health_checks_total', { result: 'success' }), (n) => n >= 4, 'health checks passing', 30_000);
  assert.deepEqual(new Set(await requests(CHECKED, 4)), new Set(['be31', 'be32']));
  // The HTTP check's kept-alive connection to each backend is the helper's, from the node.
  const owners = sh('ss', '-tnpH', 'state', 'established', 'dst', `${be(31)}:8080`);
  assert.match(owners, /"kube-ipvs-probe"/, owners);

  sh('ip', ...dropIn(32));
  const dropped = Date.now();
  const out = await waitFor(() => weights(CHECKED), (w) => w.includes(`${be(32)}:8080 0`), 'be32 at weight 0', 30_000, 100);
  const outMs = Date.now() - dropped;
  assert.deepEqual(out, [`${be(31)}:8080 1`, `${be(32)}:8080 0`], 'only the silent backend');
  // Three failures: the first probe within an interval of the drop, each failing at its 1 s
  // timeout, then the min sync period and the sync itself (slow under emulation).
  const syncMs = 1000 * (await metric('kubeproxy_sync_full_proxy_rules_duration_seconds_sum', { ip_family: 'IPv4' }))
    / (await metric('kubeproxy_sync_full_proxy_rules_duration_seconds_count', { ip_family: 'IPv4' }));
  const bound = Math.round(1000 + 3 * 1000 + 1000 + 2 * syncMs + 1500);
  t.diagnostic(`packets dropped → weight 0: ${outMs} ms (interval 1s × 3 failures; full sync mean ${Math.round(syncMs)} ms; bound ${bound} ms)`);
  assert.ok(outMs < bound, `within interval × failures + a sync (${outMs} ms, bound ${bound} ms)`);
  assert.match(daemon.logs, /endpoint 10\.244\.32\.5 of Service e2e\/checked failed 3 checks in a row; out of rotation/);
  // The TCP check (kube-ipvs-prober: its SYNs dropped, each fails at its timeout) within the same bound.
  await waitFor(() => weights(TCP_CHECKED), (w) => w.includes(`${be(32)}:8080 0`), 'be32 at weight 0 (tcp)', 30_000, 100);
  const tcpOutMs = Date.now() - dropped;
  t.diagnostic(`packets dropped → weight 0 by the TCP check (kube-ipvs-prober): ${tcpOutMs} ms`);
  assert.ok(tcpOutMs < bound, `tcp: within interval × failures + a sync (${tcpOutMs} ms, bound ${bound} ms)`);
  assert.deepEqual(weights(TCP_CHECKED), [`${be(31)}:8080 1`, `${be(32)}:8080 0`]);
  assert.match(daemon.logs, /endpoint 10\.244\.32\.5 of Service e2e\/tcp-checked failed 3 checks in a row; out of rotation/);
  await waitFor(() => metric('kubeipvs_health_check_endpoints_down'), (n) => n === 2, 'both held down', 30_000);

  // From here on, no request to the checked Service fails; the unchecked one keeps failing.
  const [checked, unchecked] = [await requests(CHECKED, 8), await requests(UNCHECKED, 6)];
  assert.deepEqual(checked, Array(8).fill('be31'), `checked: ${checked.join(' ')}`);
  const failed = unchecked.filter((a) => a.startsWith('error')).length;
  t.diagnostic(`without the annotation: ${failed} of 6 requests failed in the same window`);
  assert.ok(failed >= 2, `unchecked: ${unchecked.join(' ')}`);
  assert.deepEqual(weights(UNCHECKED), [`${be(31)}:8080 1`, `${be(32)}:8080 1`], 'nothing changes without the annotation');

  sh('ip', ...flowIn(32));
  const restored = Date.now();
  await waitFor(() => weights(CHECKED), (w) => w.includes(`${be(32)}:8080 1`), 'be32 back at weight 1', 30_000, 100);
  await waitFor(() => weights(TCP_CHECKED), (w) => w.includes(`${be(32)}:8080 1`), 'be32 back at weight 1 (tcp)', 30_000, 100);
  t.diagnostic(`packets flowing → weight 1: ${Date.now() - restored} ms (2 successes + a sync)`);
  assert.match(daemon.logs, /endpoint 10\.244\.32\.5 of Service e2e\/checked passed 2 checks in a row; back in rotation/);
  assert.deepEqual(new Set(await requests(CHECKED, 4)), new Set(['be31', 'be32']));
});
