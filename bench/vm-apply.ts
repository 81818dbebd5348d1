// On the real kernel (run inside the VM, software-emulated: report ratios, not times):
// the cold sync of a synthetic cluster through the daemon's code (proxier → dataplane → the
// execa adapter) vs the raw tools fed the very same batches, and one endpoint change likewise.
//   test/vm/run.sh --timeout 900 --mem 4096 -- /work/wt-bench/node_modules/.bin/node bench/vm-apply.ts [services=1000] [runs=3]
import { execFileSync } from 'node:child_process';
import { cleanup } from '../src/apply/cleanup.ts';
import { Dataplane } from '../src/apply/dataplane.ts';
import { execaRunner, type RunOptions, type Runner } from '../src/apply/exec.ts';
import { applyIpvsBatch } from '../src/apply/ipvsadm.ts';
import { resolveConfig } from '../src/compute/config.ts';
import { parseIp } from '../src/compute/net/ip.ts';
import { silentLog } from '../src/log.ts';
import { ClusterState } from '../src/observe/cluster-state.ts';
import { systemClock } from '../src/sync/clock.ts';
import { Proxier } from '../src/sync/proxier.ts';
import { cluster, endpointSlice } from './synthetic.ts';

interface Call { readonly argv: readonly string[]; readonly input?: string; readonly ms: number }

/** The real adapter, with every call and its wall time recorded. */
class Recorder implements Runner {
  calls: Call[] = [];
  async run(argv: readonly string[], opts?: RunOptions) {
    const t = performance.now();
    try { return await execaRunner.run(argv, opts); } finally {
      this.calls.push({ argv, ...(opts?.input === undefined ? {} : { input: opts.input }), ms: performance.now() - t });
    }
  }
}

const services = Number(process.argv[2] ?? 1000);
const runs = Number(process.argv[3] ?? 3);
const NODE_IP = parseIp('192.168.1.10')!;
const config = resolveConfig({ hostnameOverride: 'node-a', clusterCidr: '10.244.0.0/16' }, 'bench');
const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const writes = (calls: readonly Call[]): Call[] => calls.filter((c) => c.input !== undefined);
const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

/** The same tool and stdin, spawned directly (no adapter, no daemon). */
function raw(c: Pick<Call, 'argv' | 'input'>): number {
  const [file, ...args] = c.argv;
  const t = performance.now();
  execFileSync(file ?? '', args, { input: c.input ?? '', stdio: ['pipe', 'ignore', 'pipe'], env: { LC_ALL: 'C', PATH: process.env.PATH ?? '' } });
  return performance.now() - t;
}

async function clean(): Promise<void> {
  await cleanup({ runner: execaRunner, log: silentLog, excludeCidrs: [] });
  // NodePort services on the (absent) node address are not recognisably ours: clear the rest.
  execFileSync('ipvsadm', ['-C']);
}

function daemon(runner: Runner, state: ClusterState): Proxier {
  const dataplane = new Dataplane({ runner, families: [4, 6], excludeCidrs: [], log: silentLog });
  return new Proxier({
    config, families: [4, 6], cluster: state, dataplane, log: silentLog, clock: systemClock,
    readNodeAddresses: () => Promise.resolve([NODE_IP]), hooks: { synced: () => undefined, invalid: () => undefined }, retryAfter: () => undefined,
  });
}

const rows: Record<string, number>[] = [];
for (let r = 0; r < runs; r++) {
  await clean();
  const rec = new Recorder();
  const state = new ClusterState();
  const objs = cluster(services, 10, 42);
  for (const s of objs.services) state.setService(`${s.metadata.namespace}/${s.metadata.name}`, s);
  for (const e of objs.slices) state.setSlice(`${e.metadata.namespace}/${e.metadata.name}`, e);
  const proxier = daemon(rec, state);
  let t = performance.now();
  await proxier.sync('periodic');
  const coldSync = performance.now() - t;
  const coldProcesses = rec.calls.length;
  const cold = writes(rec.calls);
  const ipvs = cold.find((c) => c.argv[0] === 'ipvsadm' && c.argv[1] === '-R');
  if (ipvs === undefined) throw new Error('no ipvsadm -R in the cold sync');
  // The same lines on an empty table, through the adapter and raw, alternately (the load of
  // this shared machine drifts; alternating keeps that from favouring either).
  const adapter: number[] = [];
  const direct: number[] = [];
  for (let k = 0; k < 4; k++) {
    execFileSync('ipvsadm', ['-C']);
    if ((k + r) % 2 === 0) { t = performance.now(); await applyIpvsBatch(execaRunner, ipvs.input ?? ''); adapter.push(performance.now() - t); }
    else direct.push(raw(ipvs));
  }
  // Every write batch, raw, on a clean kernel, in the daemon's order.
  await clean();
  const rawWrites = sum(cold.map(raw));

  // One endpoint added to one Service, then removed again: each a sync; the raw tools then
  // replay the same batches (add, then remove) from the same starting state. Three pairs.
  const change = { addSync: [] as number[], rawAdd: [] as number[], removeSync: [] as number[], rawRemove: [] as number[], processes: 0 };
  for (let k = 0; k < 3; k++) {
    const i = ((r * 3 + k) * 7919) % services;
    const sync = async (n: number): Promise<[number, Call[]]> => {
      const e = endpointSlice(i, n, 42);
      state.setSlice(`${e.metadata.namespace}/${e.metadata.name}`, e);
      rec.calls = [];
      const t0 = performance.now();
      await proxier.sync('requested');
      return [performance.now() - t0, rec.calls];
    };
    const [addMs, addCalls] = await sync(11);
    const [removeMs, removeCalls] = await sync(10);
    change.addSync.push(addMs);
    change.removeSync.push(removeMs);
    change.rawAdd.push(sum(writes(addCalls).map(raw)));
    change.rawRemove.push(sum(writes(removeCalls).map(raw)));
    change.processes = Math.max(change.processes, addCalls.length, removeCalls.length);
  }
  rows.push({
    coldSync, coldProcesses, adapterIpvs: median(adapter), rawIpvs: median(direct), ipvsLines: ipvs.input?.split('\n').length ?? 0, coldWrites: sum(cold.map((c) => c.ms)), rawWrites,
    addSync: median(change.addSync), rawAdd: median(change.rawAdd), removeSync: median(change.removeSync), rawRemove: median(change.rawRemove), changeProcesses: change.processes,
  });
  process.stdout.write(`run ${r + 1}: ${JSON.stringify(rows.at(-1), (_, v: unknown) => (typeof v === 'number' ? Math.round(v) : v))}\n`);
}
const m = (k: string): number => median(rows.map((x) => x[k] ?? NaN));
const ratio = (a: string, b: string): string => (m(a) / m(b)).toFixed(2);
process.stdout.write(`\n${services} Services x 10 endpoints, real kernel under emulation, medians of ${runs} runs:
  cold sync, ipvsadm -R through the adapter (applyIpvsBatch + execa) ${m('adapterIpvs').toFixed(0)} ms vs raw ipvsadm -R of the same ${m('ipvsLines')} lines ${m('rawIpvs').toFixed(0)} ms: ratio ${ratio('adapterIpvs', 'rawIpvs')}
  cold sync, all of it (reads, compute, every batch) ${m('coldSync').toFixed(0)} ms vs the same write batches raw ${m('rawWrites').toFixed(0)} ms: ratio ${ratio('coldSync', 'rawWrites')}
  one endpoint added: sync ${m('addSync').toFixed(0)} ms vs raw tools ${m('rawAdd').toFixed(0)} ms: ratio ${ratio('addSync', 'rawAdd')} (at most ${m('changeProcesses')} processes per sync)
  one endpoint removed: sync ${m('removeSync').toFixed(0)} ms vs raw tools ${m('rawRemove').toFixed(0)} ms: ratio ${ratio('removeSync', 'rawRemove')}
`);
