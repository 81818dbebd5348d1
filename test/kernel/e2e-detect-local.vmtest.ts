// --detect-local-mode on the real kernel with traffic: a client counted as a local pod reaches
// the backend with its own address; any other client is masqueraded (the backend sees the
// node's address on its link, 10.244.21.1). ClusterCIDR by source CIDR, InterfaceNamePrefix by
// the interface the packet came in on (the node side of the client's veth: veth-cl<n>).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { TestApiServer } from '../support/apiserver/index.ts';
import { addNodeAddress, sh, stopBackend, type Backend } from './lab.ts';
import { KubeIpvs, addClient, be, curlFrom, removeClient, rules, slice, startApi, startBackendOnce, svc, waitFor, type Client } from './e2e-lab.ts';

// e2e-detect-local-nftables.vmtest.ts runs the same with the nftables rules backend.
const RULES = process.env.KUBE_IPVS_E2E_RULES === 'nftables' ? 'nftables' : 'iptables';

let api: TestApiServer;
let backend: Backend | undefined;
let clients: Client[] = [];
const NODE_SIDE = '10.244.21.1';

before(async () => {
  addNodeAddress('192.168.1.10');
  clients = [addClient(1), addClient(2)];
  api = await startApi();
  api.create(svc('web', '10.96.0.20'));
  api.create(slice('web', [be(21)]));
  backend = await startBackendOnce(21);
});

after(async () => {
  await api.stop();
  if (backend !== undefined) stopBackend(backend);
  clients.forEach(removeClient);
});

/** The source address the backend sees for a request from each client, through the ClusterIP. */
async function peers(): Promise<string[]> {
  return await waitFor(() => clients.map((c) => curlFrom(c, 'http://10.96.0.20/peer')), (p) => p.every((x) => x !== 'error'), 'both clients reach the ClusterIP', 20_000);
}

async function withDaemon(flags: readonly string[], check: () => Promise<void>): Promise<void> {
  const daemon = new KubeIpvs(api, ['--ipvs-sync-period=10s', `--ipvs-rules-backend=${RULES}`, ...flags]);
  daemon.start();
  try {
    await daemon.synced();
    await check();
  } finally {
    assert.deepEqual(await daemon.stop(), { code: 0, signal: null }, 'SIGTERM: exit 0');
  }
}

/** The mode's rule is in place: kube-proxy's iptables rule, or the nftables table's rule naming the same match. */
function assertMasqRule(iptablesMatch: string, nftMatch: string): void {
  if (RULES === 'iptables') {
    assert.ok(rules().some((r) => r.includes(iptablesMatch) && r.includes('KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ')), rules().join('\n'));
  } else {
    const table = sh('nft', 'list', 'table', 'inet', 'kube-ipvs');
    assert.ok(table.split('\n').some((l) => l.includes(nftMatch) && l.includes('!=') && l.includes('@cluster-ip-v4') && l.includes('jump mark-masq')), table);
  }
}

test('ClusterCIDR: a client inside --cluster-cidr keeps its address; one outside it is masqueraded', async () => {
  await withDaemon(['--cluster-cidr=172.20.1.0/24'], async () => {
    assertMasqRule('! -s 172.20.1.0/24', '172.20.1.0/24');
    assert.deepEqual(await peers(), ['172.20.1.2', NODE_SIDE]);
  });
});

test('InterfaceNamePrefix: traffic entering on veth-cl1* keeps its address; other interfaces are masqueraded', async () => {
  // --cluster-cidr covers both clients: with this mode it must not be what decides.
  await withDaemon(['--detect-local-mode=InterfaceNamePrefix', '--pod-interface-name-prefix=veth-cl1', '--cluster-cidr=172.20.0.0/16'], async () => {
    assertMasqRule('! -i veth-cl1+', 'veth-cl1');
    assert.deepEqual(await peers(), ['172.20.1.2', NODE_SIDE]);
  });
});
