// On the real kernel (run inside the VM, software-emulated: report ratios, not times), for each
// rules backend (iptables + ipset, or one nftables table): the cold sync of a synthetic cluster
// through the daemon's code (proxier → dataplane → the execa adapter), one endpoint added and
// removed, one Service added and removed, and the processes each sync spawns; the changes are
// also replayed through the raw tools (the same batches, spawned directly) for a ratio. With
// nftables, a sync whose `nft -f` script the kernel refuses mid-way (an extra `create table` of
// the existing table: EEXIST) must leave the table exactly as before (`nft -j list table`).
// At 1,000 Services and below, the cold sync is also compared with the raw tools.
//   test/vm/run.sh --timeout 3600 --mem 4096 -- node bench/vm-apply.ts [services=1000] [runs=3] [backends=iptables,nftables] [out.json]
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cleanup } from '../src/apply/cleanup.ts';
import { Dataplane, DataplaneError } from '../src/apply/dataplane.ts';
import { execaRunner, type RunOptions, type Runner } from '../src/apply/exec.ts';
import { applyIpvsBatch } from '../src/apply/ipvsadm.ts';
import { NFT_TABLE, RULES_BACKENDS, type RulesBackend } from '../src/compute/model/nft.ts';
import { resolveConfig } from '../src/compute/config.ts';
import { parseIp } from '../src/compute/net/ip.ts';
import { silentLog } from '../src/log.ts';
import { ClusterState } from '../src/observe/cluster-state.ts';
import { systemClock } from '../src/sync/clock.ts';
import { Proxier, type SyncReport } from '../src/sync/proxier.ts';
import { cluster, endpointSlice, service } from './synthetic.ts';

interface Call { readonly argv: readonly string[]; readonly input?: string; readonly ms: number }

/** The real adapter, with every call and its wall time recorded. */
class Recorder implements Runner {
  calls: Call[] = [];
  /** When set, an `nft -f` script gets one more line that the kernel refuses (EEXIST). */
  refuseNft = false;
  async run(argv: readonly string[], given?: RunOptions) {
    const refuse = this.refuseNft && argv[0] === 'nft' && argv[1] === '-f' && given?.input !== undefined;
    const opts = refuse ? { ...given, input: `${given.input}create table inet ${NFT_TABLE}\n` } : given;
    const t = performance.now();
    try { return await execaRunner.run(argv, opts); } finally {
      this.calls.push({ argv, ...(opts?.input === undefined ? {} : { input: opts.input }), ms: performance.now() - t });
    }
  }
}

const services = Number(process.argv[2] ?? 1000);
const runs = Number(process.argv[3] ?? 3);
const backends = (process.argv[4] ?? 'iptables,nftables').split(',').filter((b): b is RulesBackend => (RULES_BACKENDS as readonly string[]).includes(b));
const outFile = process.argv[5];
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

/** The table as the kernel lists it (undefined when absent). */
function nftListing(): string | undefined {
  try { return execFileSync('nft', ['-j', 'list', 'table', 'inet', NFT_TABLE], { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 30 }).toString(); } catch { return undefined; }
}

function daemon(runner: Runner, state: ClusterState, rules: RulesBackend, reports: SyncReport[]): Proxier {
  const dataplane = new Dataplane({ runner, families: [4, 6], excludeCidrs: [], log: silentLog, rules });
  return new Proxier({
    config, families: [4, 6], cluster: state, dataplane, log: silentLog, clock: systemClock,
    readNodeAddresses: () => Promise.resolve([NODE_IP]), hooks: { synced: (r) => { reports.push(r); }, invalid: () => undefined }, retryAfter: () => undefined,
  });
}

type Row = Record<string, number>;
const results: Record<string, { rows: Row[]; failedTransaction?: { refused: boolean; tableUnchanged: boolean; repairedAfter: boolean } }> = {};
for (const rules of backends) {
  const rows: Row[] = [];
  let failedTransaction: { refused: boolean; tableUnchanged: boolean; repairedAfter: boolean } | undefined;
  for (let r = 0; r < runs; r++) {
    await clean();
    const rec = new Recorder();
    const reports: SyncReport[] = [];
    const state = new ClusterState();
    const objs = cluster(services, 10, 42);
    for (const s of objs.services) state.setService(`${s.metadata.namespace}/${s.metadata.name}`, s);
    for (const e of objs.slices) state.setSlice(`${e.metadata.namespace}/${e.metadata.name}`, e);
    const proxier = daemon(rec, state, rules, reports);
    let t = performance.now();
    await proxier.sync('periodic');
    const coldSync = performance.now() - t;
    if (reports.at(-1)?.error !== undefined) throw new Error(`${rules}: the cold sync failed: ${String(reports.at(-1)?.error)}`);
    const coldProcesses = rec.calls.length;
    const cold = writes(rec.calls);
    const row: Row = { coldSync, coldProcesses, coldWrites: sum(cold.map((c) => c.ms)) };
    if (services <= 1000) {
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
      // Every write batch, raw, on a clean kernel, in the daemon's order; then back to the
      // daemon's state with a full sync (which repairs what the replay left different).
      await clean();
      row.adapterIpvs = median(adapter);
      row.rawIpvs = median(direct);
      row.ipvsLines = ipvs.input?.split('\n').length ?? 0;
      row.rawWrites = sum(cold.map(raw));
      await clean();
      await proxier.sync('periodic');
    }

    // One endpoint added to one Service, then removed again: each a sync; the raw tools then
    // replay the same batches (add, then remove) from the same starting state. Three pairs.
    const timed = async (change: () => void): Promise<[number, Call[]]> => {
      change();
      rec.calls = [];
      const t0 = performance.now();
      await proxier.sync('requested');
      if (reports.at(-1)?.error !== undefined) throw new Error(`${rules}: a sync failed: ${String(reports.at(-1)?.error)}`);
      return [performance.now() - t0, rec.calls];
    };
    const setSlice = (i: number, n: number) => () => { const e = endpointSlice(i, n, 42); state.setSlice(`${e.metadata.namespace}/${e.metadata.name}`, e); };
    const change = { addSync: [] as number[], rawAdd: [] as number[], removeSync: [] as number[], rawRemove: [] as number[], processes: 0 };
    for (let k = 0; k < 3; k++) {
      const i = ((r * 3 + k) * 7919) % services;
      const [addMs, addCalls] = await timed(setSlice(i, 11));
      const [removeMs, removeCalls] = await timed(setSlice(i, 10));
      change.addSync.push(addMs);
      change.removeSync.push(removeMs);
      change.rawAdd.push(sum(writes(addCalls).map(raw)));
      change.rawRemove.push(sum(writes(removeCalls).map(raw)));
      change.processes = Math.max(change.processes, addCalls.length, removeCalls.length);
    }
    // One Service (a NodePort one, index `services`: new address, port, set entries) added, then removed.
    const svc = service(services);
    const slice = endpointSlice(services, 10, 42);
    const svcKey = `${svc.metadata.namespace}/${svc.metadata.name}`;
    const sliceKey = `${slice.metadata.namespace}/${slice.metadata.name}`;
    const [svcAddMs, svcAddCalls] = await timed(() => { state.setService(svcKey, svc); state.setSlice(sliceKey, slice); });
    const [svcRemoveMs, svcRemoveCalls] = await timed(() => { state.setService(svcKey, undefined); state.setSlice(sliceKey, undefined); });
    Object.assign(row, {
      addSync: median(change.addSync), rawAdd: median(change.rawAdd), removeSync: median(change.removeSync), rawRemove: median(change.rawRemove), changeProcesses: change.processes,
      serviceAddSync: svcAddMs, serviceRemoveSync: svcRemoveMs, serviceProcesses: Math.max(svcAddCalls.length, svcRemoveCalls.length),
    });

    if (rules === 'nftables' && r === 0) {
      // A sync with a change whose one `nft -f` transaction the kernel refuses at its last line.
      const before = nftListing();
      rec.refuseNft = true;
      state.setService(svcKey, svc);
      state.setSlice(sliceKey, slice);
      await proxier.sync('requested');
      const err = reports.at(-1)?.error;
      const refused = err instanceof DataplaneError && err.tool === 'nft';
      const tableUnchanged = before !== undefined && nftListing() === before;
      // The daemon's retry (a full sync) applies the change.
      rec.refuseNft = false;
      await proxier.sync('periodic');
      const after = nftListing() ?? '';
      const clusterIp = (svc.spec as { clusterIP: string }).clusterIP;
      const repairedAfter = reports.at(-1)?.error === undefined && !(before ?? '').includes(`"${clusterIp}"`) && after.includes(`"${clusterIp}"`);
      failedTransaction = { refused, tableUnchanged, repairedAfter };
      process.stdout.write(`${rules}: failed transaction: ${JSON.stringify(failedTransaction)}\n`);
      state.setService(svcKey, undefined);
      state.setSlice(sliceKey, undefined);
      await proxier.sync('requested');
    }
    rows.push(row);
    process.stdout.write(`${rules} run ${r + 1}: ${JSON.stringify(row, (_, v: unknown) => (typeof v === 'number' ? Math.round(v) : v))}\n`);
  }
  results[rules] = { rows, ...(failedTransaction === undefined ? {} : { failedTransaction }) };
}
await clean();

const summary: Record<string, Row> = {};
for (const [rules, { rows }] of Object.entries(results)) {
  const m = (k: string): number => median(rows.map((x) => x[k] ?? NaN));
  summary[rules] = Object.fromEntries(Object.keys(rows[0] ?? {}).map((k) => [k, Math.round(m(k))]));
  const ratio = (a: string, b: string): string => (m(a) / m(b)).toFixed(2);
  process.stdout.write(`\n${rules}: ${services} Services x 10 endpoints, real kernel under emulation, medians of ${runs} runs:
  cold sync ${m('coldSync').toFixed(0)} ms, ${m('coldProcesses')} processes${services <= 1000 ? `; vs the same write batches raw: ratio ${ratio('coldSync', 'rawWrites')}; ipvsadm -R via the adapter vs raw (${m('ipvsLines')} lines): ratio ${ratio('adapterIpvs', 'rawIpvs')}` : ''}
  one endpoint added: sync ${m('addSync').toFixed(0)} ms vs raw tools ${m('rawAdd').toFixed(0)} ms: ratio ${ratio('addSync', 'rawAdd')} (at most ${m('changeProcesses')} processes per sync)
  one endpoint removed: sync ${m('removeSync').toFixed(0)} ms vs raw tools ${m('rawRemove').toFixed(0)} ms: ratio ${ratio('removeSync', 'rawRemove')}
  one Service added: ${m('serviceAddSync').toFixed(0)} ms, removed: ${m('serviceRemoveSync').toFixed(0)} ms (at most ${m('serviceProcesses')} processes per sync)
`);
}
const failed = results.nftables?.failedTransaction;
if (failed !== undefined) process.stdout.write(`nftables, a sync whose transaction the kernel refused: refused ${failed.refused}, table unchanged ${failed.tableUnchanged}, applied by the next sync ${failed.repairedAfter}\n`);
if (outFile !== undefined) {
  const doc = { services, endpointsPerService: 10, runs, emulated: true, summary, failedTransaction: failed, runsDetail: results };
  writeFileSync(outFile, `${JSON.stringify(doc, (_, v: unknown) => (typeof v === 'number' ? Math.round(v) : v), 2)}\n`);
}
