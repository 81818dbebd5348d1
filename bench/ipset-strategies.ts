// Measures, on the real kernel (run inside the VM), the two ways to update an ipset that
// src/apply/ipset.ts can format: per-member add/del deltas vs a temporary set + swap.
//   test/vm/run.sh -- node_modules/.bin/node bench/ipset-strategies.ts 10000
import { execFileSync } from 'node:child_process';
import { formatDeltaScript, formatSwapScript } from '../src/tools/ipset.ts';
import type { IpsetState } from '../src/compute/model/desired.ts';

const n = Number(process.argv[2] ?? 10_000);
const entry = (i: number): string => `10.${96 + Math.floor(i / 65_536)}.${Math.floor(i / 256) % 256}.${i % 256},tcp:80`;
const set = (entries: string[]): IpsetState => ({
  name: 'KUBE-CLUSTER-IP', base: 'KUBE-CLUSTER-IP', family: 4, type: 'hash:ip,port',
  createOptions: 'family inet hashsize 1024 maxelem 262144', entries,
});
const restore = (script: string): number => {
  const t = process.hrtime.bigint();
  execFileSync('ipset', ['restore', '-exist'], { input: script });
  return Number(process.hrtime.bigint() - t) / 1e6;
};
const all = Array.from({ length: n }, (_, i) => entry(i));
const first = set(all);
const fill = restore(formatDeltaScript([{ set: first, create: true, add: all, del: [] }]));
const changed = set([...all.slice(1), entry(n)]);
const delta = restore(formatDeltaScript([{ set: changed, create: false, add: [entry(n)], del: [entry(0)] }]));
const swap = restore(formatSwapScript([changed], new Set(['KUBE-CLUSTER-IP'])));
const members = execFileSync('ipset', ['list', 'KUBE-CLUSTER-IP'], { encoding: 'utf8' }).split('Members:\n')[1]?.trim().split('\n').length;
process.stdout.write(`${n} members: initial fill ${fill.toFixed(0)} ms; one change as delta ${delta.toFixed(0)} ms, as swap ${swap.toFixed(0)} ms (${String(members)} members after)\n`);
