// The nftables table: desired vs observed → the operations of ONE `nft -f` transaction.
// Elements are added and deleted one by one (O(changed)); a chain is flushed and rewritten
// only when its rules differ; a table whose sets or base chains are not what kube-ipvs would
// create is replaced whole, inside the same transaction, so no packet sees it half-built.
import type { Delta } from '../model/counted.ts';
import type { IpsetState } from '../model/desired.ts';
import { nftElement, nftSetName, nftSetOf } from '../model/nft.ts';
import { ruleFingerprint, type NftBaseChain, type NftOp, type NftSet, type NftTable, type ObservedNftTable } from '../../tools/nft.ts';

const sameBase = (a: NftBaseChain | undefined, b: NftBaseChain | undefined): boolean =>
  a?.type === b?.type && a?.hook === b?.hook && a?.priority === b?.priority;

const sameList = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/** Whether the observed table has exactly the desired sets (by type) and chains (by hook): else it is rebuilt. */
function sameShape(desired: NftTable, o: ObservedNftTable): boolean {
  if (o.sets.size !== desired.sets.length || o.chains.size !== desired.chains.length) return false;
  for (const s of desired.sets) {
    const h = o.sets.get(s.name);
    if (h === undefined || h.interval !== s.interval || !sameList(h.type, s.type)) return false;
  }
  return desired.chains.every((c) => { const h = o.chains.get(c.name); return h !== undefined && sameBase(h.base, c.base); });
}

function elementOps(s: NftSet, have: ReadonlySet<string>): NftOp[] {
  const want = new Set(s.elements);
  const del = [...have].filter((e) => !want.has(e)).sort();
  const add = s.elements.filter((e) => !have.has(e));
  return [
    // Deletes first: an interval set may be narrowing a range it holds.
    ...(del.length === 0 ? [] : [{ op: 'delete-elements' as const, set: s.name, elements: del }]),
    ...(add.length === 0 ? [] : [{ op: 'add-elements' as const, set: s.name, elements: add }]),
  ];
}

function chainOps(desired: NftTable, o: ObservedNftTable): NftOp[] {
  return desired.chains
    .filter((c) => !sameList(o.chains.get(c.name)?.fingerprints ?? [], c.rules.map(ruleFingerprint)))
    .map((chain) => ({ op: 'replace-chain' as const, chain }));
}

/** Full resync: everything that differs, drift included (undefined observed: no table yet). */
export function diffNft(desired: NftTable, observed: ObservedNftTable | undefined): NftOp[] {
  if (observed === undefined) return [{ op: 'create-table', table: desired }];
  if (!sameShape(desired, observed)) return [{ op: 'delete-table' }, { op: 'create-table', table: desired }];
  const ops: NftOp[] = [];
  for (const s of desired.sets) ops.push(...elementOps(s, observed.sets.get(s.name)?.elements ?? new Set()));
  return [...ops, ...chainOps(desired, observed)];
}

/**
 * Incremental sync: only the ipsets whose members changed (DesiredIndex deltas), checked
 * against what is known to be in the table, so an element is never added or deleted twice.
 * A set with intervals is compared whole (the kernel refuses overlapping ranges, so its
 * elements depend on each other); the out-filter sets and chains are small and compared whole.
 */
export function incrementalNft(
  desired: NftTable, ipsets: readonly IpsetState[], changed: ReadonlyMap<string, Delta<string>>, known: ObservedNftTable,
): NftOp[] {
  if (!sameShape(desired, known)) return diffNft(desired, known);
  const ops: NftOp[] = [];
  const covered = new Set<string>();
  for (const ipset of ipsets) {
    const d = changed.get(ipset.name);
    const name = nftSetName(ipset.base, ipset.family);
    covered.add(name);
    if (d === undefined) continue;
    const have = known.sets.get(name)?.elements ?? new Set<string>();
    if (ipset.type === 'hash:ip,port,net') { ops.push(...elementOps(nftSetOf(ipset), have)); continue; }
    const del = d.removed.map(nftElement).filter((e) => have.has(e));
    const add = d.added.map(nftElement).filter((e) => !have.has(e));
    if (del.length > 0) ops.push({ op: 'delete-elements', set: name, elements: del });
    if (add.length > 0) ops.push({ op: 'add-elements', set: name, elements: add });
  }
  for (const s of desired.sets) if (!covered.has(s.name)) ops.push(...elementOps(s, known.sets.get(s.name)?.elements ?? new Set()));
  return [...ops, ...chainOps(desired, known)];
}

/** The table after `ops` succeeded (what the adapter then knows to be in the kernel). */
export function afterOps(known: ObservedNftTable | undefined, ops: readonly NftOp[], name: string): ObservedNftTable | undefined {
  let sets = new Map([...(known?.sets ?? new Map<string, never>())].map(([k, v]) => [k, { ...v, elements: new Set(v.elements) }]));
  let chains = new Map(known?.chains ?? []);
  let exists = known !== undefined;
  for (const o of ops) {
    switch (o.op) {
      case 'delete-table': sets = new Map(); chains = new Map(); exists = false; break;
      case 'create-table':
        exists = true;
        for (const s of o.table.sets) sets.set(s.name, { type: s.type, interval: s.interval, elements: new Set(s.elements) });
        for (const c of o.table.chains) chains.set(c.name, { ...(c.base === undefined ? {} : { base: c.base }), fingerprints: c.rules.map(ruleFingerprint) });
        break;
      case 'add-elements': for (const e of o.elements) sets.get(o.set)?.elements.add(e); break;
      case 'delete-elements': for (const e of o.elements) sets.get(o.set)?.elements.delete(e); break;
      case 'replace-chain':
        chains.set(o.chain.name, { ...(o.chain.base === undefined ? {} : { base: o.chain.base }), fingerprints: o.chain.rules.map(ruleFingerprint) });
        break;
      default: { const never: never = o; throw new Error(`unknown nft op ${String(never)}`); }
    }
  }
  return exists ? { name, sets, chains } : undefined;
}
