// `make demo`, run inside the VM (test/vm/run.sh): the real kube-ipvs daemon on a real IPVS
// kernel. A test API server seeded with examples/cluster.yaml, the shop/web pods as HTTP
// servers in network namespaces, kube-ipvs watching and programming the kernel, requests to the
// ClusterIP answered in turn, then a live change (a pod removed) and the table and traffic after.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { start, type KubeObject } from '../support/apiserver/index.ts';
import { addNodeAddress, netnsBehindVeth, sh } from './lab.ts';
import { KubeIpvs, fetchName, realServers, waitFor } from './e2e-lab.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const NODE_BIN = join(ROOT, 'node_modules', '.bin', 'node');
const VIP = '10.96.50.1';
const began = Date.now();
const say = (s = ''): void => { process.stdout.write(`${s}\n`); };
const step = (s: string): void => { say(`\n== ${s}`); };
const shell = (cmd: string, ...argv: string[]): void => { say(`$ ${[cmd, ...argv].join(' ')}`); say(sh(cmd, ...argv).trimEnd()); };

/** A pod: netns <name>, veth to the node (<net>.1/24 on the node side), an HTTP server on 8080. */
async function startPod(name: string, ip: string): Promise<() => void> {
  netnsBehindVeth(name, ip.replace(/\.\d+$/, '.1'), ip);
  const proc = spawn('ip', ['netns', 'exec', name, NODE_BIN, join(import.meta.dirname, 'backend-server.ts'), `${name} (${ip})`, '8080', '5353'],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    proc.stdout.once('data', () => { resolve(); });
    proc.once('exit', (code) => { reject(new Error(`pod ${name} exited ${String(code)}`)); });
  });
  return () => { proc.kill(); };
}

/** Under emulation a node process now and then dies at start-up (see test/vm/run.sh): once more. */
async function pod(name: string, ip: string): Promise<() => void> {
  try {
    return await startPod(name, ip);
  } catch {
    spawnSync('ip', ['netns', 'del', name]);
    say(`  (pod ${name} died at start-up, an emulation fault; starting it again)`);
    return startPod(name, ip);
  }
}

async function requests(n: number): Promise<void> {
  for (let i = 1; i <= n; i++) say(`  request ${i} → ${await fetchName(`http://${VIP}/`)}`);
}

say('kube-ipvs demo: the daemon on a real IPVS kernel (Debian\'s kernel in a QEMU VM, no network leaves it)');

step('API server: a test list/watch server seeded with examples/cluster.yaml');
const api = await start();
const items = (parse(readFileSync(join(ROOT, 'examples', 'cluster.yaml'), 'utf8')) as { items: KubeObject[] }).items;
for (const o of items) api.create(o);
const count = (kind: string): number => items.filter((o) => o.kind === kind).length;
say(`  ${count('Node')} Nodes, ${count('Service')} Services, ${count('EndpointSlice')} EndpointSlices at ${api.url}`);

step('kube-ipvs: starting the daemon as node-a (node address 192.168.1.10)');
addNodeAddress('192.168.1.10');
const daemon = new KubeIpvs(api, ['--nodeport-addresses', '192.168.1.0/24']);
say(`$ kube-ipvs ${daemon.flags.join(' ')}`);
daemon.start();
// The shop/web pods, while the daemon loads (its start-up is slow under software emulation).
const stops = await Promise.all([pod('web-0', '10.244.0.11'), pod('web-1', '10.244.1.12')]);
say('  pods shop/web web-0 (10.244.0.11) and web-1 (10.244.1.12) are serving HTTP on :8080');
process.stdout.write('  waiting for its first sync (loading takes 10-30 s under emulation) ');
const t0 = Date.now();
const dots = setInterval(() => { process.stdout.write('.'); }, 2000);
await daemon.synced(300_000);
clearInterval(dots);
say(` synced after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
shell('ipvsadm', '-Ln');
say('(kube-ipvs0 holds the ClusterIPs, LoadBalancer IP 203.0.113.10 is programmed, NodePorts listen on 192.168.1.10 (--nodeport-addresses);');
say(' 10.244.1.13 is not ready, so not in shop/web; ingress-nginx is externalTrafficPolicy Local: only node-a\'s endpoint)');

step(`traffic: 6 requests from the node to shop/web, ClusterIP ${VIP}:80 (scheduler rr)`);
await requests(6);

step('live change: pod web-1 (10.244.1.12) removed from the EndpointSlice shop/web-abcde');
const slice = api.get({ kind: 'EndpointSlice', namespace: 'shop', name: 'web-abcde' })!;
const endpoints = (slice.endpoints as { addresses: string[] }[]).filter((e) => e.addresses[0] !== '10.244.1.12');
const t1 = Date.now();
api.update({ ...slice, endpoints });
await waitFor(() => realServers(`${VIP}:80`) ?? [], (rs) => rs.every((r) => r.addr !== '10.244.1.12:8080' || r.weight === 0), 'the change', 30_000, 50);
say(`  programmed ${Date.now() - t1} ms after the API write`);
shell('ipvsadm', '-Ln', '-t', `${VIP}:80`);
say('(weight 0: out of rotation, its closed connections still counted; deleted once they expire — graceful termination)');
await requests(4);

step('done');
say(`  kube-ipvs runs on; SIGTERM leaves the kernel as it is. Whole demo in the VM: ${((Date.now() - began) / 1000).toFixed(0)} s`);
await daemon.stop();
stops.forEach((s) => { s(); });
spawnSync('ip', ['netns', 'del', 'web-0']);
spawnSync('ip', ['netns', 'del', 'web-1']);
await api.stop();
