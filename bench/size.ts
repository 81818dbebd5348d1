// One cluster size, in a process of its own (run by bench/run.ts, compiled), through the daemon's real
// code paths: cluster state as the informer handlers feed it → change trackers → proxier →
// dataplane → the fake kernel (in another process, see remote-kernel.ts), which parses every
// batch. Compute time excludes the time spent inside the (fake) tools. Prints one JSON line.
//   node --expose-gc bench/size.ts SERVICES RUNS   (also runs as TypeScript, ~30 MiB more RSS)
import { Dataplane } from '../src/apply/dataplane.ts';
import type { RunOptions, Runner } from '../src/apply/exec.ts';
import { resolveConfig } from '../src/compute/config.ts';
import { parseIp } from '../src/compute/net/ip.ts';
import { silentLog } from '../src/log.ts';
import { ClusterState } from '../src/observe/cluster-state.ts';
import { systemClock } from '../src/sync/clock.ts';
import { Proxier } from '../src/sync/proxier.ts';
import { RemoteKernel } from './remote-kernel.ts';
import { cluster, endpointSlice, service } from './synthetic.ts';

/**
 * Counts processes and the wall time during which any tool runs (reads run in parallel, so
 * their times are not summed), so compute time can be told apart.
 */
class MeasuredRunner implements Runner {
  readonly inner: Runner;
  processes = 0;
  toolMs = 0;
  #active = 0;
  #since = 0;
  constructor(inner: Runner) { this.inner = inner; }
  async run(argv: readonly string[], opts?: RunOptions) {
    if (this.#active++ === 0) this.#since = performance.now();
    this.processes++;
    try { return await this.inner.run(argv, opts); } finally { if (--this.#active === 0) this.toolMs += performance.now() - this.#since; }
  }
  reset(): void { this.processes = 0; this.toolMs = 0; }
}

/** computeMs: wall time minus time in tools; cpuMs: this process's CPU time (all its threads, GC included), which a shared machine's load does not inflate. */
interface Sample { readonly computeMs: number; readonly cpuMs: number; readonly processes: number; readonly ops: number }

const NODE_IP = parseIp('192.168.1.10')!;
const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const spread = (xs: readonly number[]): [number, number] => [Math.min(...xs), Math.max(...xs)];
const gc = (): void => { (globalThis as { gc?: () => void }).gc?.(); };

const services = Number(process.argv[2] ?? 100);
const runs = Number(process.argv[3] ?? 5);
const kernel = new RemoteKernel();
const runner = new MeasuredRunner(kernel);
const state = new ClusterState();
const config = resolveConfig({ hostnameOverride: 'node-a', clusterCidr: '10.244.0.0/16' }, 'bench');
// This node as the API server shows it: its node IP comes from the Node object (kube-proxy's
// detectNodeIPs); without one it would be loopback, and every LoadBalancer with source ranges
// would get an OUT-FILTER drop rule.
state.setNode({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a' }, status: { addresses: [{ type: 'InternalIP', address: NODE_IP.text }] } });
let lastOps = 0;

/** A daemon's sync side as it starts: no state applied yet. */
function daemon(): Proxier {
  const dataplane = new Dataplane({ runner, families: [4, 6], excludeCidrs: [], log: silentLog });
  return new Proxier({
    config, families: [4, 6], cluster: state, dataplane, log: silentLog, clock: systemClock,
    readNodeAddresses: () => Promise.resolve([NODE_IP]),
    hooks: { synced: (r) => { lastOps = r.result === undefined ? -1 : Object.values(r.result.changes).reduce((a, b) => a + b, 0); }, invalid: () => undefined },
    retryAfter: () => undefined,
  });
}

async function measure(proxier: Proxier, change: () => void, full = false): Promise<Sample> {
  change();
  runner.reset();
  const cpu = process.cpuUsage();
  const t = performance.now();
  await proxier.sync(full ? 'periodic' : 'requested');
  const wall = performance.now() - t;
  const used = process.cpuUsage(cpu);
  return { computeMs: wall - runner.toolMs, cpuMs: (used.user + used.system) / 1000, processes: runner.processes, ops: lastOps };
}

gc();
const base = process.memoryUsage();
{
  const objs = cluster(services, 10, 42);
  for (const s of objs.services) state.setService(`${s.metadata.namespace}/${s.metadata.name}`, s);
  for (const e of objs.slices) state.setSlice(`${e.metadata.namespace}/${e.metadata.name}`, e);
}
gc();
const loaded = process.memoryUsage();
// The initial sync, then memory as the daemon holds it (after a GC, so garbage is not counted).
let proxier = daemon();
const cold: Sample[] = [await measure(proxier, () => undefined, true)];
gc();
const mem = process.memoryUsage();
const peakRssBytes = process.resourceUsage().maxRSS * 1024;
// More cold full syncs: a fresh daemon against an empty kernel each time (the first one warmed up).
for (let r = 0; r < runs; r++) {
  await kernel.reset();
  proxier = daemon();
  cold.push(await measure(proxier, () => undefined, true));
}
const save = async (...argv: string[]): Promise<string[]> => (await kernel.admin(argv)).split('\n');
const rules = [...await save('iptables-save'), ...await save('ip6tables-save')].filter((l) => l.startsWith('-A ')).length;
const setsWithMembers = new Set((await save('ipset', 'save')).filter((l) => l.startsWith('add ')).map((l) => l.split(' ')[1])).size;

// Incremental syncs: one EndpointSlice changed (an endpoint added or removed), one Service added.
const ep: Sample[] = [];
const add: Sample[] = [];
const warm = 30;
for (let r = 0; r < warm + runs * 10; r++) {
  const i = (r * 7919) % services;
  ep.push(await measure(proxier, () => {
    const e = endpointSlice(i, 10 + ((r % 2) === 0 ? 1 : 0), 42);
    state.setSlice(`${e.metadata.namespace}/${e.metadata.name}`, e);
  }));
  add.push(await measure(proxier, () => {
    const s = service(services + r);
    state.setService(`${s.metadata.namespace}/${s.metadata.name}`, s);
  }));
}
const resync = await measure(proxier, () => undefined, true);
kernel.stop();
const steady = (xs: readonly Sample[]): number[] => xs.slice(warm).map((s) => s.computeMs);
const coldMs = cold.slice(1).map((s) => s.computeMs);
const coldCpuMs = cold.slice(1).map((s) => s.cpuMs);
process.stdout.write(`${JSON.stringify({
  services, endpoints: services * 10,
  coldSyncMs: median(coldMs), coldSyncSpreadMs: spread(coldMs), coldSyncCpuMs: median(coldCpuMs), coldSyncCpuSpreadMs: spread(coldCpuMs), coldSyncProcesses: cold[0]?.processes, coldSyncOps: cold[0]?.ops,
  endpointChangeMs: median(steady(ep)), endpointChangeSpreadMs: spread(steady(ep)), endpointChangeCpuMs: median(ep.slice(warm).map((s) => s.cpuMs)),
  serviceAddMs: median(steady(add)), serviceAddSpreadMs: spread(steady(add)),
  noChangeResyncOps: resync.ops,
  processesPerSync: Math.max(...[...ep, ...add].slice(warm).map((s) => s.processes)),
  // RSS after the initial sync; of the heap: the cluster objects as informers hold them, and
  // what the daemon builds from them (index, applied state, trackers); base: Node and modules.
  rssBytes: mem.rss, peakRssBytes, baseRssBytes: base.rss, heapUsedBytes: mem.heapUsed,
  clusterHeapBytes: loaded.heapUsed - base.heapUsed, daemonHeapBytes: mem.heapUsed - loaded.heapUsed,
  iptablesRules: rules, setsWithMembers,
})}\n`);
