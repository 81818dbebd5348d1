// `make bench`: synthetic clusters through the daemon's real code paths (cluster state as the
// informer handlers feed it → change trackers → proxier → dataplane → the fake kernel, which
// parses every batch). Compute time excludes the time spent inside the (fake) tools.
//   node bench/run.ts [sizes=100,1000,10000] [runs=5]
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { Dataplane } from '../src/apply/dataplane.ts';
import type { RunOptions, Runner } from '../src/apply/exec.ts';
import { resolveConfig } from '../src/compute/config.ts';
import { parseIp } from '../src/compute/net/ip.ts';
import { silentLog } from '../src/log.ts';
import { ClusterState } from '../src/observe/cluster-state.ts';
import { Proxier } from '../src/sync/proxier.ts';
import { systemClock } from '../src/sync/clock.ts';
import { FakeKernel } from '../test/fakes/fake-kernel.ts';
import { cluster, endpointSlice, service } from './synthetic.ts';

/** Counts processes and the time spent inside tools, so compute time can be told apart. */
class MeasuredRunner implements Runner {
  readonly inner: Runner;
  processes = 0;
  toolMs = 0;
  constructor(inner: Runner) { this.inner = inner; }
  async run(argv: readonly string[], opts?: RunOptions) {
    const t = performance.now();
    this.processes++;
    try { return await this.inner.run(argv, opts); } finally { this.toolMs += performance.now() - t; }
  }
  reset(): void { this.processes = 0; this.toolMs = 0; }
}

interface Sample { computeMs: number; processes: number; ops: number }

async function measure(runner: MeasuredRunner, proxier: Proxier, change: () => void, full = false): Promise<Sample> {
  change();
  runner.reset();
  const t = performance.now();
  await proxier.sync(full ? 'periodic' : 'requested');
  const wall = performance.now() - t;
  return { computeMs: wall - runner.toolMs, processes: runner.processes, ops: lastOps };
}

let lastOps = 0;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const spread = (xs: number[]): [number, number] => [Math.min(...xs), Math.max(...xs)];

async function benchSize(services: number, runs: number) {
  const kernel = new FakeKernel();
  const runner = new MeasuredRunner(kernel);
  const state = new ClusterState();
  const config = resolveConfig({ hostnameOverride: 'node-a', clusterCidr: '10.244.0.0/16' }, 'bench');
  const dataplane = new Dataplane({ runner, families: [4, 6], excludeCidrs: [], nodeAddresses: [parseIp('192.168.1.10')!], log: silentLog });
  const proxier = new Proxier({
    config, families: [4, 6], cluster: state, dataplane, log: silentLog, clock: systemClock,
    readNodeAddresses: () => Promise.resolve([parseIp('192.168.1.10')!]),
    hooks: { synced: (r) => { lastOps = r.result === undefined ? -1 : Object.values(r.result.changes).reduce((a, b) => a + b, 0); }, invalid: () => undefined },
    retryAfter: () => undefined,
  });
  const objs = cluster(services, 10, 42);
  const cold = await measure(runner, proxier, () => {
    for (const s of objs.services) state.setService(`${s.metadata.namespace}/${s.metadata.name}`, s);
    for (const e of objs.slices) state.setSlice(`${e.metadata.namespace}/${e.metadata.name}`, e);
  }, true);
  const heap = process.memoryUsage();
  const rules = kernel.admin(['iptables-save']).split('\n').filter((l) => l.startsWith('-A ')).length +
    kernel.admin(['ip6tables-save']).split('\n').filter((l) => l.startsWith('-A ')).length;
  const ep: Sample[] = [];
  const add: Sample[] = [];
  for (let r = 0; r < runs + 1; r++) {
    const i = (r * 7919) % services;
    ep.push(await measure(runner, proxier, () => {
      const e = endpointSlice(i, 10 + ((r % 2) === 0 ? 1 : 0), 42);
      state.setSlice(`${e.metadata.namespace}/${e.metadata.name}`, e);
    }));
    add.push(await measure(runner, proxier, () => {
      const s = service(services + r, 42);
      state.setService(`${s.metadata.namespace}/${s.metadata.name}`, s);
    }));
  }
  const resync = await measure(runner, proxier, () => undefined, true);
  const steady = (xs: Sample[]) => xs.slice(1); // the first run warms up
  return {
    services, endpoints: services * 10,
    coldSyncMs: cold.computeMs, coldSyncProcesses: cold.processes, coldSyncOps: cold.ops,
    endpointChangeMs: median(steady(ep).map((s) => s.computeMs)), endpointChangeSpreadMs: spread(steady(ep).map((s) => s.computeMs)),
    serviceAddMs: median(steady(add).map((s) => s.computeMs)), serviceAddSpreadMs: spread(steady(add).map((s) => s.computeMs)),
    noChangeResyncOps: resync.ops,
    processesPerSync: Math.max(...steady(ep).map((s) => s.processes), ...steady(add).map((s) => s.processes)),
    rssBytes: heap.rss, heapUsedBytes: heap.heapUsed, iptablesRules: rules,
  };
}

const sizes = (process.argv[2] ?? '100,1000,10000').split(',').map(Number);
const runs = Number(process.argv[3] ?? 5);
const results = [];
for (const n of sizes) {
  // A fresh process per size would give cleaner RSS; one process keeps `make bench` short.
  results.push(await benchSize(n, runs));
  const r = results.at(-1)!;
  process.stdout.write(`${String(n).padStart(6)} services: cold ${r.coldSyncMs.toFixed(0)} ms (${r.coldSyncProcesses} processes), endpoint change ${r.endpointChangeMs.toFixed(2)} ms, service add ${r.serviceAddMs.toFixed(2)} ms, no-change resync ops ${r.noChangeResyncOps}, processes/sync ${r.processesPerSync}, RSS ${(r.rssBytes / 2 ** 20).toFixed(0)} MiB, iptables rules ${r.iptablesRules}\n`);
}
const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
const out = { date: new Date().toISOString(), commit, node: process.version, machine: { cpus: cpus().length, cpu: cpus()[0]?.model, memBytes: totalmem() }, runs, results };
const dir = join(import.meta.dirname, 'results');
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, 'latest.json'), `${JSON.stringify(out, null, 2)}\n`);
process.stdout.write(`wrote bench/results/latest.json\n`);
