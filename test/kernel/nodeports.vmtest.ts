// Runs inside the VM (make e2e): NodePort virtual servers on a real kernel with a cluster whose
// NodePort range is not kube-proxy's default (40000-40100). Their ownership mark is their port
// in KUBE-NODE-PORT-* (src/apply/ownership.ts): a deleted Service's NodePort goes, also when it
// was deleted while kube-ipvs was down; an address leaving the node takes its NodePorts along;
// a user's own services and flows on the node address survive.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { deleteByEndpointArgv } from '../../src/tools/conntrack.ts';
import { deleteEntries } from '../../src/apply/conntrack.ts';
import { Dataplane } from '../../src/apply/dataplane.ts';
import { execaRunner } from '../../src/apply/exec.ts';
import { ensureKernelSettings } from '../../src/apply/settings.ts';
import { procSysFs } from '../../src/apply/sysctl.ts';
import type { DesiredState } from '../../src/compute/model/desired.ts';
import { parseCidr, parseIp } from '../../src/compute/net/ip.ts';
import { nodeAddresses } from '../../src/daemon.ts';
import { silentLog, type Log } from '../../src/log.ts';
import { compute, ep, makeService, makeSlice } from '../compute/builders.ts';
import { addNodeAddress, get, sh, startBackend, stopBackend, udpQuery, type Backend } from './lab.ts';

// nodeports-nftables.vmtest.ts runs the same with the nftables rules backend.
const RULES = process.env.KUBE_IPVS_E2E_RULES === 'nftables' ? 'nftables' : 'iptables';
const NODE_IP = '192.168.1.10';
const SECOND_IP = '192.168.2.10';
const USER = ['-A -t 192.168.1.10:8080 -s rr', '-A -t 192.168.1.10:30500 -s wlc', '-A -t 10.3.0.5:40000 -s rr'];
let backend: Backend | undefined;
let wireguard: Socket | undefined;

/** A new process each time: nothing known but the kernel. */
const restarted = (): Dataplane => new Dataplane({ runner: execaRunner, families: [4], excludeCidrs: [parseCidr('10.3.0.0/16')!], log: silentLog, rules: RULES });

/** Where the NodePort marks live: kube-proxy's KUBE-NODE-PORT-* ipsets, or the inet kube-ipvs table's sets. */
const nodePortMarks = (): string => (RULES === 'nftables' ? sh('nft', 'list', 'table', 'inet', 'kube-ipvs') : sh('ipset', 'save'));

/** `web` TCP NodePort 40000, `api` TCP 40050, `dns` UDP 40100; served on the node's current addresses. */
async function desired(names: readonly ('web' | 'api' | 'dns')[]): Promise<DesiredState> {
  const spec = { web: ['10.96.0.20', 40000, 'TCP', 8080], api: ['10.96.0.21', 40050, 'TCP', 8080], dns: ['10.96.0.53', 40100, 'UDP', 5353] } as const;
  const services = names.map((n) => makeService('d', n, { type: 'NodePort', clusterIP: spec[n][0], ports: [{ name: 'p', port: 80, protocol: spec[n][2], nodePort: spec[n][1] }] }));
  const endpointSlices = names.map((n) => makeSlice('d', n, [ep('10.244.1.5')], [{ name: 'p', port: spec[n][3], protocol: spec[n][2] }]));
  const addrs = (await nodeAddresses(execaRunner, [4])).map((ip) => ip.text);
  return compute({ services, endpointSlices }, { nodeAddresses: addrs, clusterCidr: '10.244.0.0/16' }).desired;
}

const nodePorts = (): string[] => sh('ipvsadm', '-Sn').split('\n').filter((l) => /^-A -[tu] 192\.168\.\d+\.\d+:40\d{3} /.test(l)).sort();

before(async () => {
  try {
    addNodeAddress(NODE_IP);
    backend = await startBackend(1);
    await ensureKernelSettings(execaRunner, procSysFs(), { strictArp: false, timeouts: { tcp: 0, tcpFin: 0, udp: 0 } });
  } catch (e) {
    console.error('lab setup failed:', e); // node:test reports a failed hook without its error
    throw e;
  }
});

after(() => { if (backend !== undefined) stopBackend(backend); wireguard?.close(); });

test('a deleted Service\'s NodePort (range 40000-40100) goes, also when deleted while kube-ipvs was down', async () => {
  for (const line of USER) sh('ipvsadm', ...line.split(' '));
  await restarted().sync(await desired(['web', 'api']), { full: true });
  assert.equal(await get(`http://${NODE_IP}:40050/`), 'be1');
  const dp = restarted();
  await dp.sync(await desired(['web', 'api']), { full: true });
  await dp.sync(await desired(['web']), { full: false });
  assert.deepEqual(nodePorts(), [`-A -t ${NODE_IP}:40000 -s rr`]);
  assert.match(nodePortMarks(), /\b40000\b/, 'web\'s NodePort is marked');
  assert.doesNotMatch(nodePortMarks(), RULES === 'nftables' ? /\b40050\b/ : /KUBE-NODE-PORT-TCP 40050/);
  // web is deleted while no kube-ipvs runs: the next process finds and removes its NodePort.
  await restarted().sync(await desired([]), { full: true });
  assert.deepEqual(nodePorts(), []);
  const left = sh('ipvsadm', '-Sn').split('\n').filter((l) => l !== '').sort();
  assert.deepEqual(left, [...USER].sort(), 'the user\'s services on the node address and in --ipvs-exclude-cidrs survive');
});

test('an address removed from the node takes its NodePorts with it on the next full resync', async () => {
  sh('ip', 'addr', 'add', `${SECOND_IP}/32`, 'dev', 'node0');
  const dp = restarted();
  await dp.sync(await desired(['web']), { full: true });
  assert.ok(nodePorts().includes(`-A -t ${SECOND_IP}:40000 -s rr`));
  sh('ip', 'addr', 'del', `${SECOND_IP}/32`, 'dev', 'node0');
  await dp.sync(await desired(['web']), { full: true });
  assert.ok(!nodePorts().some((l) => l.includes(SECOND_IP)), nodePorts().join('\n'));
  assert.ok(nodePorts().includes(`-A -t ${NODE_IP}:40000 -s rr`));
});

test('a removed UDP NodePort clears its own flows; a WireGuard flow to the node address survives', async () => {
  const warnings: string[] = [];
  const log: Log = { ...silentLog, warn: (o, msg) => { warnings.push(`${msg} ${JSON.stringify(o)}`); } };
  const dp = new Dataplane({ runner: execaRunner, families: [4], excludeCidrs: [], log });
  await dp.sync(await desired(['web', 'dns']), { full: true });
  // A UDP service of the node itself on its address (as WireGuard listens on 51820).
  const wg = createSocket('udp4');
  wireguard = wg;
  wg.on('message', (m, from) => { wg.send(m, from.port, from.address); });
  await new Promise<void>((resolve) => { wg.bind(51820, NODE_IP, resolve); });
  assert.equal(await udpQuery(NODE_IP, 51820, 40_998), 'q');
  const flows = (): string => sh('conntrack', '-L', '-p', 'udp');
  assert.match(flows(), /dport=51820 /);
  // The endpoint filter, on the real tool: exactly the flow NATed to be1 through the NodePort.
  assert.equal(await udpQuery(NODE_IP, 40100, 40_999), 'be1');
  assert.equal(await deleteEntries(execaRunner, deleteByEndpointArgv(parseIp('10.244.1.5')!, parseIp(NODE_IP)!, 40100)), 1);
  assert.doesNotMatch(flows(), /dport=40100 /);
  assert.equal(await udpQuery(NODE_IP, 40100, 40_999), 'be1');
  assert.match(flows(), /dport=40100 /);
  await dp.sync(await desired(['web']), { full: false });
  assert.deepEqual(warnings, [], 'the real conntrack accepted every delete');
  assert.doesNotMatch(flows(), /dport=40100 /, 'the removed NodePort\'s flow is gone');
  assert.match(flows(), /dport=51820 /, 'the unrelated flow to the node address is untouched');
});
