// What the kernel holds, as kube-ipvs reads it: one read per tool, and the same shape for
// "what we last applied", so an incremental sync diffs against memory instead of the kernel.
import { createHash, type Hash } from 'node:crypto';
import type { Family, Ip } from '../compute/net/ip.ts';
import type { DesiredState } from '../compute/model/desired.ts';
import type { VirtualServer } from '../compute/model/types.ts';
import { jumpRuleText } from '../compute/model/iptables.ts';
import { boundAddresses, DUMMY_LINK, parseAddrShow, parseLinkShow, type AddressChanges, type InterfaceAddress } from '../tools/ip.ts';
import { fits, parseIpsetSave, type ObservedSet, type SetDelta } from '../tools/ipset.ts';
import { parseIptablesSave, iptablesBinary, type Backend, type SavedTable } from '../tools/iptables.ts';
import { parseIpvsadmSave, type ObservedRealServer, type ObservedService } from '../tools/ipvsadm.ts';
import { stdoutBytes, type Runner } from './exec.ts';
import { ipsetBlocks, linkAddressLines, type Block } from '../tools/dump-blocks.ts';
import { readNftText } from './nft.ts';
import { SET_DEFS, createOptions, setName, SET_BASES } from '../compute/model/ipsets.ts';
import { NFT_TABLE, ipsetEntry, nftSetName, type RulesBackend } from '../compute/model/nft.ts';
import { type ObservedNftTable } from '../tools/nft.ts';
import { parseNftJson } from '../tools/nft-json.ts';

export interface KernelState {
  readonly ipvs: ReadonlyMap<string, ObservedService>;
  readonly sets: ReadonlyMap<string, ObservedSet>;
  readonly iptables: ReadonlyMap<Family, ReadonlyMap<string, SavedTable>>;
  /** kube-ipvs0's addresses (every family) by address text; other interfaces' are not kept. */
  readonly bound: ReadonlyMap<string, InterfaceAddress>;
  readonly linkExists: boolean;
  /**
   * The nftables backend's table (undefined: none); with that backend, `sets` is its sets
   * seen as the ipsets they stand for (the NodePort marks of ownership.ts) and `iptables` is empty.
   */
  readonly nft?: ObservedNftTable | undefined;
}

const ours = (ip: Ip): InterfaceAddress => ({ ifname: DUMMY_LINK, ip, prefix: ip.family === 4 ? 32 : 128 });

/**
 * The tools' dumps, as printed: one process per tool (per family for iptables), never one per
 * object. The large ones as bytes: a periodic resync hashes them and decodes only what changed.
 */
export interface KernelText {
  readonly ipvs: Buffer;
  readonly sets: Buffer;
  readonly addresses: Buffer;
  readonly links: string;
  /** `iptables-save` per family, in the order of the families read. */
  readonly iptables: readonly string[];
  /** The nftables backend: `nft -j list table inet kube-ipvs`, null when there is no table. */
  readonly nft?: string | null;
}

export async function readKernelText(runner: Runner, families: readonly Family[], backend?: Backend, rules: RulesBackend = 'iptables'): Promise<KernelText> {
  const out = async (argv: readonly string[]): Promise<string> => (await runner.run(argv)).stdout;
  const bytes = async (argv: readonly string[]): Promise<Buffer> => stdoutBytes(await runner.run(argv, { bytes: true }));
  if (rules === 'nftables') {
    const [ipvs, addresses, links, nft] = await Promise.all([
      bytes(['ipvsadm', '-Sn']), bytes(['ip', '-o', 'addr', 'show']), out(['ip', '-o', 'link', 'show']), readNftText(runner),
    ]);
    return { ipvs, sets: Buffer.alloc(0), addresses, links, iptables: [], nft: nft ?? null };
  }
  const [ipvs, sets, addresses, links, ...iptables] = await Promise.all([
    bytes(['ipvsadm', '-Sn']), bytes(['ipset', 'save']), bytes(['ip', '-o', 'addr', 'show']), out(['ip', '-o', 'link', 'show']),
    ...families.map((f) => out([iptablesBinary(f, 'save', backend)])),
  ]);
  return { ipvs, sets, addresses, links, iptables };
}

/** The nft table's sets as the ipsets they stand for, members in ipset's text. */
export function setsOfNft(nft: ObservedNftTable | undefined, families: readonly Family[]): Map<string, ObservedSet> {
  const out = new Map<string, ObservedSet>();
  if (nft === undefined) return out;
  for (const family of families) {
    for (const base of SET_BASES) {
      const s = nft.sets.get(nftSetName(base, family));
      if (s === undefined) continue;
      const name = setName(base, family);
      const { type } = SET_DEFS[base];
      out.set(name, { name, type, options: optionsOf(createOptions(type, family, s.elements.size)), members: new Set([...s.elements].map(ipsetEntry)) });
    }
  }
  return out;
}

/** Every dump parsed (a cold read, `--dry-run`, cleanup); a resync reads blocks (kernel-read.ts). */
export function parseKernelText(t: KernelText, families: readonly Family[]): KernelState {
  const ipvs = parseIpvsadmSave(t.ipvs.toString('utf8')).services;
  const bound = boundAddresses(parseAddrShow(linkAddressLines(t.addresses, DUMMY_LINK).lines.toString('utf8')));
  const linkExists = parseLinkShow(t.links).includes(DUMMY_LINK);
  if (t.nft !== undefined) {
    const nft = t.nft === null ? undefined : parseNftJson(t.nft, NFT_TABLE);
    return { ipvs, sets: setsOfNft(nft, families), bound, linkExists, iptables: new Map(), nft };
  }
  return { ipvs, sets: parseIpsetSave(t.sets.toString('utf8')), bound, linkExists, iptables: parseIptablesTexts(t.iptables, families) };
}

export const parseIptablesTexts = (texts: readonly string[], families: readonly Family[]): Map<Family, Map<string, SavedTable>> =>
  new Map(families.map((f, i) => [f, parseIptablesSave(texts[i] ?? '')]));

/**
 * A digest of what a full sync compares, as the dumps print it: the whole IPVS table, the
 * KUBE- ipsets (others, a CNI's, may churn), the iptables tables without what changes on its own (iptables-save's timestamped
 * comments, packet counters), kube-ipvs0 and its addresses (other interfaces' address
 * lifetimes count down). Equal digests: the kernel holds what it held at the earlier read.
 * The dumps' bytes are hashed as read, never decoded (SHA-256: ~10 MB at 10,000 Services).
 */
export function kernelDigest(t: KernelText, addresses = linkAddressLines(t.addresses, DUMMY_LINK), pre?: DigestStart): string {
  const h = pre?.ipvs ?? createHash('sha256').update(t.ipvs);
  h.update('\0');
  for (const b of pre?.sets ?? ipsetBlocks(t.sets)) if (b.id.startsWith('KUBE-')) h.update(b.digest);
  h.update('\0');
  for (const table of t.iptables) h.update(table.replace(/^#.*$/gm, '').replace(/\[\d+:\d+\]/g, '')).update('\0');
  h.update(t.nft === undefined ? '' : (t.nft ?? 'absent')).update('\0');
  h.update(addresses.digest);
  h.update(`\0${String(parseLinkShow(t.links).includes(DUMMY_LINK))}`);
  return h.digest('hex');
}

/** kernelDigest's costly part done ahead, in slices (kernel-read.ts): the hash fed with the whole IPVS dump, the sets cut. */
export interface DigestStart {
  readonly ipvs: Hash;
  readonly sets: readonly Block[];
}

export async function observeKernel(runner: Runner, families: readonly Family[], backend?: Backend, rules?: RulesBackend): Promise<KernelState> {
  return parseKernelText(await readKernelText(runner, families, backend, rules), families);
}

export function toObserved(vs: VirtualServer, draining: readonly ObservedRealServer[] = []): ObservedService {
  return {
    key: vs.key,
    target: { kind: 'address', protocol: vs.protocol, ip: vs.ip, port: vs.port },
    scheduler: vs.scheduler,
    schedulerFlags: vs.schedulerFlags,
    ...(vs.persistence === undefined ? {} : { persistence: vs.persistence }),
    otherOptions: [],
    // Shared with the desired state, not copied: both are immutable.
    realServers: draining.length === 0 ? vs.realServers : [...vs.realServers, ...draining],
  };
}

function tablesOf(desired: DesiredState, family: Family, before: ReadonlyMap<string, SavedTable> | undefined): Map<string, SavedTable> {
  const state = desired.iptables.find((s) => s.family === family);
  const out = new Map<string, Map<string, { policy: string; rules: readonly string[] }>>();
  for (const [name, chains] of before ?? []) out.set(name, new Map(chains));
  if (state === undefined) return out;
  for (const t of ['nat', 'filter'] as const) {
    const chains = out.get(t) ?? new Map<string, { policy: string; rules: readonly string[] }>();
    for (const c of state[t].chains) chains.set(c, { policy: '-', rules: state[t].rules.filter((r) => r.startsWith(`-A ${c} `)) });
    for (const j of state.jumps.filter((x) => x.table === t)) {
      const text = jumpRuleText(j);
      const cur = chains.get(j.from) ?? { policy: 'ACCEPT', rules: [] };
      chains.set(j.from, { ...cur, rules: [...cur.rules.filter((r) => r !== text), text] });
    }
    out.set(t, chains);
  }
  return out;
}

/**
 * The kernel state after a successful apply of `desired` on top of `before`: our objects as
 * desired (draining real servers kept at weight 0), everything we do not own as it was.
 */
export function afterApply(
  before: KernelState, desired: DesiredState, owned: (s: ObservedService) => boolean,
  draining: ReadonlyMap<string, readonly ObservedRealServer[]>,
): KernelState {
  const ipvs = new Map<string, ObservedService>();
  for (const [k, s] of before.ipvs) if (!owned(s) && !desired.virtualServers.has(k)) ipvs.set(k, s);
  for (const [k, vs] of desired.virtualServers) ipvs.set(k, toObserved(vs, draining.get(k)));
  const sets = new Map(before.sets);
  for (const s of desired.ipsets) {
    // A set too small for its members was grown (swapped for one created as desired).
    const was = before.sets.get(s.name)?.options;
    sets.set(s.name, { name: s.name, type: s.type, options: was !== undefined && fits(was, s.entries.length) ? was : optionsOf(s.createOptions), members: new Set(s.entries) });
  }
  const iptables = new Map(desired.families.map((f) => [f, tablesOf(desired, f, before.iptables.get(f))]));
  const others = [...before.bound.values()].filter((a) => !desired.families.includes(a.ip.family));
  return { ipvs, sets, iptables, bound: boundAddresses([...others, ...desired.addresses.map(ours)]), linkExists: true };
}

function optionsOf(createOptions: string): Map<string, string> {
  const t = createOptions.split(' ');
  const out = new Map<string, string>();
  for (let i = 0; i + 1 < t.length; i += 2) out.set(t[i] ?? '', t[i + 1] ?? '');
  return out;
}

/** What an incremental sync applied: per-tool changes, each O(changed). */
export interface AppliedChanges {
  /** Virtual server keys diffed (and so rewritten from the desired state). */
  readonly virtualServers: Iterable<string>;
  readonly sets: readonly SetDelta[];
  readonly addresses: AddressChanges;
  readonly iptables: boolean;
}

/**
 * afterApply for an incremental sync: what was applied is replayed on `known`, in place (the
 * dataplane owns it exclusively), so the cost follows the change, not the cluster.
 */
export function afterIncremental(
  known: KernelState, desired: DesiredState, applied: AppliedChanges, owned: (s: ObservedService) => boolean,
  draining: ReadonlyMap<string, readonly ObservedRealServer[]>,
): KernelState {
  const ipvs = known.ipvs as Map<string, ObservedService>;
  for (const k of applied.virtualServers) {
    const vs = desired.virtualServers.get(k);
    const cur = ipvs.get(k);
    if (vs !== undefined) ipvs.set(k, toObserved(vs, draining.get(k)));
    else if (cur !== undefined && owned(cur)) ipvs.delete(k);
  }
  const sets = known.sets as Map<string, ObservedSet>;
  for (const d of applied.sets) {
    const cur = sets.get(d.set.name);
    if (d.grow === true) { sets.set(d.set.name, { name: d.set.name, type: d.set.type, options: optionsOf(d.set.createOptions), members: new Set(d.set.entries) }); continue; }
    const members = (cur?.members ?? new Set<string>()) as Set<string>;
    for (const e of d.del) members.delete(e);
    for (const e of d.add) members.add(e);
    if (cur === undefined) sets.set(d.set.name, { name: d.set.name, type: d.set.type, options: optionsOf(d.set.createOptions), members });
  }
  const iptables = applied.iptables
    ? new Map(desired.families.map((f) => [f, tablesOf(desired, f, known.iptables.get(f))]))
    : known.iptables;
  const bound = known.bound as Map<string, InterfaceAddress>;
  for (const ip of applied.addresses.del) bound.delete(ip.text);
  for (const ip of applied.addresses.add) bound.set(ip.text, ours(ip));
  return { ipvs, sets, iptables, bound, linkExists: known.linkExists || applied.addresses.createLink };
}
