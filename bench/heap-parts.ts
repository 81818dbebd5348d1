// Where the daemon's live heap goes after the first sync, per structure (#12): the structures
// built one after another from bench/objects.ts's realistic objects through the daemon's own
// functions (decode → cluster state → parse/render → DesiredIndex → the known kernel state),
// the heap measured after a full GC once each is added. A later structure that shares an
// object with an earlier one costs only what it adds. Prints a table and one JSON line.
//   node --expose-gc bench/heap-parts.ts [SERVICES=10000]
import { afterApply, type KernelState } from '../src/apply/kernel-state.ts';
import { resolveConfig } from '../src/compute/config.ts';
import { decodeEndpointSlice, decodeNode, decodeService } from '../src/compute/k8s/decode.ts';
import { buildContext } from '../src/compute/model/context.ts';
import { DesiredIndex } from '../src/compute/model/desired-index.ts';
import { mergeSlices, parseEndpointSlice, type ParsedSlice } from '../src/compute/model/endpoints.ts';
import { renderService, type ServiceState } from '../src/compute/model/render.ts';
import { parseService } from '../src/compute/model/service.ts';
import { parseIp } from '../src/compute/net/ip.ts';
import { ClusterState, keyOf } from '../src/observe/cluster-state.ts';
import { realisticNode, realisticService, realisticSlice } from './objects.ts';

const N = Number(process.argv[2] ?? 10000);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc');
const heap = (): number => { gc(); gc(); return process.memoryUsage().heapUsed; };
const MiB = 2 ** 20;
const rows: { part: string; bytes: number }[] = [];
let last = heap();
const step = (part: string): void => { const h = heap(); rows.push({ part, bytes: h - last }); last = h; };

// As the informers get them: JSON text parsed, then decoded (the raw object is dropped).
const fromJson = (o: object): unknown => JSON.parse(JSON.stringify(o));
const state = new ClusterState();
state.setNode(decodeNode(fromJson(realisticNode('node-a'))));
for (let i = 0; i < N; i++) {
  const s = decodeService(fromJson(realisticService(i)));
  state.setService(keyOf(s), s);
  const e = decodeEndpointSlice(fromJson(realisticSlice(i, 10, 42)));
  state.setSlice(keyOf(e), e);
}
const { changed } = state.takeChanges();
step('cluster state (decoded Services + EndpointSlices, maps)');

const config = resolveConfig({ hostnameOverride: 'node-a', clusterCidr: '10.244.0.0/16' }, 'bench');
const ctx = buildContext({ ...config, nodeAddresses: [parseIp('192.168.1.10')!] }, state.node, [4, 6]);
const rendered = new Map<string, ServiceState>();
for (const key of changed) {
  const svc = state.services.get(key);
  const parsed = svc === undefined ? undefined : parseService(svc, ctx.config);
  if (parsed?.kind !== 'proxied') continue;
  const slices: ParsedSlice[] = [];
  for (const es of state.slicesFor(key)) { const r = parseEndpointSlice(es); if (r.kind === 'parsed') slices.push(r.slice); }
  rendered.set(key, renderService(parsed.info, mergeSlices(slices), ctx));
}
step('rendered ServiceStates (virtual servers, real servers, set entries, IPs)');

const index = new DesiredIndex(ctx);
for (const [k, s] of rendered) index.set(k, s);
step('DesiredIndex beyond the ServiceStates (claims, vs map, Counted sets, addresses)');
const { desired } = index.snapshot();
step('DesiredIndex snapshot (member lists, iptables)');

const empty: KernelState = { ipvs: new Map(), sets: new Map(), iptables: new Map(), bound: new Map(), linkExists: false };
const known = afterApply(empty, desired, () => true, new Map());
step('known kernel state (afterApply: ObservedServices, set member Sets, addresses)');

const total = rows.reduce((a, r) => a + r.bytes, 0);
process.stdout.write(`${N} Services × 10 endpoints, ${String(desired.virtualServers.size)} virtual servers\n`);
process.stdout.write('| structure | MiB | bytes per Service |\n|---|--:|--:|\n');
for (const r of [...rows, { part: 'total', bytes: total }]) process.stdout.write(`| ${r.part} | ${(r.bytes / MiB).toFixed(1)} | ${(r.bytes / N).toFixed(0)} |\n`);
process.stdout.write(`${JSON.stringify({ services: N, parts: rows, total, keep: [state.services.size, rendered.size, index.size, known.ipvs.size] })}\n`);
