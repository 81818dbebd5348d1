// `nft -j list table inet <name>` → the table's sets (with elements in the canonical text
// the formatter writes) and chains (with the fingerprints of their rules). Pure.
import { parseIp } from '../compute/net/ip.ts';
import type { NftBaseChain, NftHook, ObservedNftTable } from './nft.ts';

export class NftParseError extends Error {
  override readonly name = 'NftParseError';
  readonly code = 'NFT_PARSE';
}

type Json = null | boolean | number | string | readonly Json[] | { readonly [k: string]: Json };
type Obj = { readonly [k: string]: Json };

const isObj = (j: Json | undefined): j is Obj => typeof j === 'object' && j !== null && !Array.isArray(j);
const PROTO_NAMES: Readonly<Record<number, string>> = { 6: 'tcp', 17: 'udp', 132: 'sctp' };
const HOOKS: readonly NftHook[] = ['prerouting', 'input', 'forward', 'output', 'postrouting'];

/** An address as the formatter writes it (canonical text); a host prefix prints without its mask. */
function addr(text: string, len?: number): string {
  const ip = parseIp(text);
  if (ip === undefined) throw new NftParseError(`nft element: ${text} is not an address`);
  return len === undefined || len === (ip.family === 4 ? 32 : 128) ? ip.text : `${ip.text}/${len}`;
}

function part(j: Json | undefined, type: string | undefined): string {
  if (typeof j === 'number') return type === 'inet_proto' ? (PROTO_NAMES[j] ?? String(j)) : String(j);
  if (typeof j === 'string') return type === 'ipv4_addr' || type === 'ipv6_addr' ? addr(j) : j;
  if (isObj(j) && isObj(j.prefix) && typeof j.prefix.addr === 'string' && typeof j.prefix.len === 'number') return addr(j.prefix.addr, j.prefix.len);
  throw new NftParseError(`nft element: unexpected ${JSON.stringify(j)}`);
}

/** One element of a set of `types` → `a . b . c`. */
export function elementText(j: Json, types: readonly string[]): string {
  const val = isObj(j) && isObj(j.elem) ? j.elem.val : j; // an element with options (counter, timeout…)
  if (isObj(val) && Array.isArray(val.concat)) return (val.concat as readonly Json[]).map((p, i) => part(p, types[i])).join(' . ');
  return part(val, types[0]);
}

interface MutableChain { base?: NftBaseChain; fingerprints: string[] }

function baseOf(c: Obj): NftBaseChain | undefined {
  if (c.hook === undefined) return undefined;
  const hook = HOOKS.find((h) => h === c.hook);
  if (hook === undefined || (c.type !== 'nat' && c.type !== 'filter') || typeof c.prio !== 'number') {
    throw new NftParseError(`nft chain ${JSON.stringify(c.name)}: unexpected hook ${JSON.stringify(c.hook)} type ${JSON.stringify(c.type)}`);
  }
  return { type: c.type, hook, priority: c.prio };
}

/** Parses the JSON of one listed table; the other tables' objects, if any, are skipped. */
export function parseNftJson(text: string, table: string): ObservedNftTable {
  let doc: Json;
  try { doc = JSON.parse(text) as Json; } catch (e) { throw new NftParseError('nft -j printed no JSON', { cause: e }); }
  if (!isObj(doc) || !Array.isArray(doc.nftables)) throw new NftParseError('nft -j: no "nftables" array');
  const sets = new Map<string, { type: readonly string[]; interval: boolean; elements: Set<string> }>();
  const chains = new Map<string, MutableChain>();
  for (const item of doc.nftables as readonly Json[]) {
    if (!isObj(item)) continue;
    const s = item.set;
    if (isObj(s) && s.table === table && s.family === 'inet' && typeof s.name === 'string') {
      const type = (Array.isArray(s.type) ? s.type : [s.type]).filter((t): t is string => typeof t === 'string');
      const interval = Array.isArray(s.flags) && s.flags.includes('interval');
      const elements = new Set<string>();
      for (const e of Array.isArray(s.elem) ? (s.elem as readonly Json[]) : []) elements.add(elementText(e, type));
      sets.set(s.name, { type, interval, elements });
    }
    const c = item.chain;
    if (isObj(c) && c.table === table && c.family === 'inet' && typeof c.name === 'string') {
      const base = baseOf(c);
      chains.set(c.name, { ...(base === undefined ? {} : { base }), fingerprints: chains.get(c.name)?.fingerprints ?? [] });
    }
    const r = item.rule;
    if (isObj(r) && r.table === table && r.family === 'inet' && typeof r.chain === 'string') {
      const ch = chains.get(r.chain) ?? { fingerprints: [] };
      chains.set(r.chain, ch);
      // A rule without our comment was not made by kube-ipvs: it counts as drift.
      ch.fingerprints.push(typeof r.comment === 'string' ? r.comment : '');
    }
  }
  return { name: table, sets, chains };
}
