// Switching a node between --ipvs-rules-backend=iptables and nftables, as an operator does it:
// stop the daemon, start it with the other flag. The other backend's state (the KUBE-* chains
// and ipsets, or the `inet kube-ipvs` table) goes once the new one is in place, and a
// long-lived connection through a ClusterIP carries on across both switches.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { TestApiServer } from '../support/apiserver/index.ts';
import { addNodeAddress, sh, stopBackend, type Backend } from './lab.ts';
import { KeepAlive, KubeIpvs, NODE_IP, be, fetchName, slice, startApi, startBackendOnce, svc, waitFor } from './e2e-lab.ts';

let api: TestApiServer;
let backends: Backend[] = [];

const nftTable = (): string => { try { return sh('nft', 'list', 'table', 'inet', 'kube-ipvs'); } catch { return ''; } };
const kubeChains = (): string[] => ['iptables-save', 'ip6tables-save'].flatMap((bin) =>
  sh(bin).split('\n').filter((l) => l.startsWith(':KUBE-')).map((l) => `${bin} ${l.split(' ')[0] ?? ''}`));
const kubeSets = (): string[] => sh('ipset', 'list', '-n').split('\n').filter((l) => l.startsWith('KUBE-'));

before(async () => {
  addNodeAddress(NODE_IP);
  api = await startApi();
  for (const o of [svc('web', '10.96.2.10'), slice('web', [be(41), be(42)])]) api.create(o);
  backends = await Promise.all([41, 42].map(startBackendOnce));
});

after(async () => {
  await api.stop();
  backends.forEach(stopBackend);
});

async function run(rules: 'iptables' | 'nftables'): Promise<KubeIpvs> {
  const d = new KubeIpvs(api, ['--ipvs-sync-period=3s', '--ipvs-min-sync-period=1s', `--ipvs-rules-backend=${rules}`]);
  d.start();
  await d.synced();
  return d;
}

test('iptables → nftables → iptables: the other backend\'s state goes, a kept-alive connection carries on', async (t) => {
  let daemon = await run('iptables');
  assert.ok(kubeChains().length > 0 && kubeSets().length > 0);
  assert.equal(nftTable(), '');
  const kept = new KeepAlive('http://10.96.2.10/');
  const keptOn = await kept.get();
  try {
    for (const [from, to] of [['iptables', 'nftables'], ['nftables', 'iptables']] as const) {
      assert.deepEqual(await daemon.stop(), { code: 0, signal: null });
      daemon = await run(to);
      // The old backend's state is removed after the first full sync with the new one.
      if (to === 'nftables') {
        await waitFor(() => Promise.resolve(kubeChains().length + kubeSets().length), (n) => n === 0, 'KUBE-* chains and ipsets removed', 20_000);
        assert.match(nftTable(), /set cluster-ip-v4[\s\S]*10\.96\.2\.10 \. tcp \. 80/);
      } else {
        await waitFor(() => Promise.resolve(nftTable()), (s) => s === '', 'the nft table removed', 20_000);
        assert.ok(kubeChains().length > 0 && kubeSets().includes('KUBE-CLUSTER-IP'));
      }
      assert.equal(await kept.get(), keptOn, `the kept-alive connection survives ${from} → ${to}`);
      assert.match(await fetchName('http://10.96.2.10/'), /^be4[12]$/, `new connections work with ${to}`);
      t.diagnostic(`${from} → ${to}: kept-alive connection to ${keptOn} still answered`);
    }
  } finally {
    kept.close();
    await daemon.stop();
  }
});
