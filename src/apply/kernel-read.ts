// A full sync's read of the kernel at the cost of what changed. The dumps are cut into blocks
// of one object each (tools/dump-blocks.ts); a block whose digest is the one recorded when the
// kernel last held exactly what the dataplane believes applied (`known`) is taken from `known`,
// every other block is parsed. So a periodic resync after a few changes parses those few
// virtual servers and sets, not 10 MB of dumps — and drift anywhere still changes some block's
// digest, so it is found and parsed as before.
//
// A record stays valid only while nothing kube-ipvs applies touches its object: the dataplane
// forgets the records of what each batch touched (`forget*`), and all of them with `known`.
import type { Family } from '../compute/net/ip.ts';
import { boundAddresses, DUMMY_LINK, parseAddrShow, parseLinkShow, type InterfaceAddress } from '../tools/ip.ts';
import { parseIpsetSave, type ObservedSet } from '../tools/ipset.ts';
import { ipvsadmSaveParser, type ObservedService } from '../tools/ipvsadm.ts';
import { parseNftJson } from '../tools/nft-json.ts';
import { NFT_TABLE } from '../compute/model/nft.ts';
import { digestOf, ipsetBlocks, ipvsBlocks, linkAddressLines, type Block } from '../tools/dump-blocks.ts';
import { parseIptablesTexts, setsOfNft, type KernelState, type KernelText } from './kernel-state.ts';

/** One read's blocks: what can be recorded once the sync has applied cleanly. */
export interface ReadBlocks {
  /** IPVS blocks: id, digest and the virtual server key parsed or recorded for it. */
  readonly ipvs: readonly { readonly id: string; readonly digest: string; readonly key: string | undefined }[];
  readonly sets: readonly { readonly name: string; readonly digest: string }[];
  readonly addresses: string;
  readonly nft: string | undefined;
}

/** What was parsed of a read: blocks (objects) that were not taken from what was known. */
export interface ReadCost {
  readonly ipvsBlocks: number;
  readonly ipvsParsed: number;
  readonly setBlocks: number;
  readonly setsParsed: number;
  readonly addressesParsed: boolean;
  /**
   * A read verified in slices before its sync (verify-read.ts): IPVS and set blocks parsed there,
   * and IPVS blocks found to be exactly what ipvsadm prints for what was applied (not parsed).
   */
  readonly verified?: { readonly parsed: number; readonly printed: number };
}

/** What a read parsed, on a resync that had records: the objects that may differ from `known`. */
export interface Dirty {
  readonly virtualServers: ReadonlySet<string>;
  readonly sets: ReadonlySet<string>;
  readonly addresses: boolean;
  readonly nft: boolean;
}

/** What kube-ipvs applied, to forget the records of. */
export interface Touched {
  readonly virtualServers: Iterable<string>;
  readonly sets: Iterable<string>;
  readonly addresses: boolean;
  readonly nft: boolean;
}

/** Digests of blocks whose kernel text was, when read, exactly what `known` holds for them. */
export class BlockRecords {
  readonly #ipvs = new Map<string, { readonly digest: string; readonly key: string }>();
  readonly #idOf = new Map<string, string>();
  readonly #sets = new Map<string, string>();
  #addresses: string | undefined;
  #nft: string | undefined;

  /** The records of a read whose sync applied cleanly, less what that sync touched. */
  static after(read: ReadBlocks, touched: Touched): BlockRecords {
    const r = new BlockRecords();
    const ids = new Map<string, number>();
    for (const b of read.ipvs) ids.set(b.id, (ids.get(b.id) ?? 0) + 1);
    for (const b of read.ipvs) {
      // A block printed twice, or one whose service line could not be read, is always parsed.
      if (b.key === undefined || (ids.get(b.id) ?? 0) > 1) continue;
      r.#ipvs.set(b.id, { digest: b.digest, key: b.key });
      r.#idOf.set(b.key, b.id);
    }
    for (const s of read.sets) r.#sets.set(s.name, s.digest);
    r.#addresses = read.addresses;
    r.#nft = read.nft;
    r.forget(touched);
    return r;
  }

  /**
   * A block found, by parsing, to hold exactly what `known` holds for its object (a resync's
   * verification, verify-read.ts): from now on that block's bytes stand for `known`'s value.
   */
  recordIpvs(id: string, digest: string, key: string): void {
    const was = this.#idOf.get(key);
    if (was !== undefined && was !== id) this.#ipvs.delete(was);
    this.#ipvs.set(id, { digest, key });
    this.#idOf.set(key, id);
  }

  recordSet(name: string, digest: string): void { this.#sets.set(name, digest); }
  recordAddresses(digest: string): void { this.#addresses = digest; }

  forget(t: Touched): void {
    for (const k of t.virtualServers) {
      const id = this.#idOf.get(k);
      if (id !== undefined) this.#ipvs.delete(id);
      this.#idOf.delete(k);
    }
    for (const s of t.sets) this.#sets.delete(s);
    if (t.addresses) this.#addresses = undefined;
    if (t.nft) this.#nft = undefined;
  }

  ipvs(id: string, digest: string): string | undefined {
    const r = this.#ipvs.get(id);
    return r?.digest === digest ? r.key : undefined;
  }

  set(name: string, digest: string): boolean { return this.#sets.get(name) === digest; }
  addresses(digest: string): boolean { return this.#addresses === digest; }
  nft(digest: string): boolean { return this.#nft === digest; }
}

const NO_RECORDS = new BlockRecords();

/**
 * Objects kube-ipvs applied after a read ended (a change served while the resync verified
 * that read, verify-read.ts): the read is stale for them, and what was applied (`known`) is not.
 */
export interface SinceRead extends Touched {
  readonly virtualServers: ReadonlySet<string>;
  readonly sets: ReadonlySet<string>;
  readonly iptables: boolean;
}

export interface ReadOptions {
  /** The blocks already cut (a verified read), instead of cutting them again. */
  readonly cut?: { readonly ipvs: readonly Block[]; readonly sets: readonly Block[] };
  /** Objects applied since the read ended: taken from `known`, not from the read. */
  readonly since?: SinceRead;
}

/**
 * The kernel state a read shows: blocks recorded unchanged from `known`, the others parsed.
 * Without `known` (a first sync, or after a failed batch) every block is parsed.
 */
export function readState(
  t: KernelText, families: readonly Family[], known: KernelState | undefined, records: BlockRecords | undefined,
  addrLines = linkAddressLines(t.addresses, DUMMY_LINK), o: ReadOptions = {},
): { readonly state: KernelState; readonly blocks: ReadBlocks; readonly cost: ReadCost; readonly dirty?: Dirty } {
  const rec = known === undefined ? NO_RECORDS : (records ?? NO_RECORDS);
  const parse = ipvsadmSaveParser();
  const ipvs = new Map<string, ObservedService>();
  const ipvsRead: { id: string; digest: string; key: string | undefined }[] = [];
  let ipvsParsed = 0;
  const dirtyVs = new Set<string>();
  const dirtySets = new Set<string>();
  for (const b of o.cut?.ipvs ?? ipvsBlocks(t.ipvs)) {
    const key = rec.ipvs(b.id, b.digest);
    const s = key === undefined ? undefined : known?.ipvs.get(key);
    if (key !== undefined && s !== undefined) {
      ipvs.set(key, s);
      ipvsRead.push({ id: b.id, digest: b.digest, key });
      continue;
    }
    ipvsParsed++;
    const parsed = [...parse(t.ipvs.toString('utf8', b.start, b.end)).services.values()];
    for (const p of parsed) { ipvs.set(p.key, p); dirtyVs.add(p.key); }
    ipvsRead.push({ id: b.id, digest: b.digest, key: parsed.length === 1 && b.id !== '' ? parsed[0]?.key : undefined });
  }

  const bound: ReadonlyMap<string, InterfaceAddress> = known !== undefined && rec.addresses(addrLines.digest) ? known.bound : boundAddresses(parseAddrShow(addrLines.lines.toString('utf8')));
  const addressesParsed = bound !== known?.bound;
  const linkExists = parseLinkShow(t.links).includes(DUMMY_LINK);

  let sets = new Map<string, ObservedSet>();
  const setsRead: { name: string; digest: string }[] = [];
  let setBlocks = 0;
  let setsParsed = 0;
  let nft: KernelState['nft'];
  let nftDigest: string | undefined;
  let nftParsed = false;
  if (t.nft !== undefined) {
    nftDigest = digestOf(Buffer.from(t.nft ?? 'absent'));
    if (known !== undefined && rec.nft(nftDigest)) {
      nft = known.nft;
      sets = new Map(known.sets);
    } else {
      nft = t.nft === null ? undefined : parseNftJson(t.nft, NFT_TABLE);
      sets = setsOfNft(nft, families);
      nftParsed = true;
    }
  } else {
    for (const b of o.cut?.sets ?? ipsetBlocks(t.sets)) {
      setBlocks++;
      const cur = known?.sets.get(b.id);
      if (cur !== undefined && rec.set(b.id, b.digest)) { sets.set(b.id, cur); setsRead.push({ name: b.id, digest: b.digest }); continue; }
      if (o.since?.sets.has(b.id) === true && known !== undefined) continue; // stale: taken from `known` below, never parsed

      setsParsed++;
      const parsed = parseIpsetSave(t.sets.toString('utf8', b.start, b.end));
      for (const [name, s] of parsed) { sets.set(name, s); dirtySets.add(name); }
      if (b.id !== '' && parsed.size === 1 && parsed.has(b.id)) setsRead.push({ name: b.id, digest: b.digest });
    }
  }
  let state: KernelState = {
    ipvs, sets, bound, linkExists,
    iptables: t.nft !== undefined ? new Map() : parseIptablesTexts(t.iptables, families),
    ...(t.nft !== undefined ? { nft } : {}),
  };
  if (o.since !== undefined && known !== undefined) {
    state = overlay(state, known, o.since);
    // As applied, so not drifted as far as this read can tell: diffed only for pending changes.
    for (const k of o.since.virtualServers) dirtyVs.delete(k);
    for (const n of o.since.sets) dirtySets.delete(n);
  }
  return {
    state,
    blocks: { ipvs: ipvsRead, sets: setsRead, addresses: addrLines.digest, nft: nftDigest },
    cost: { ipvsBlocks: ipvsRead.length, ipvsParsed, setBlocks, setsParsed, addressesParsed },
    // Only against records: without them everything was parsed, and the diff is whole.
    ...(rec === NO_RECORDS ? {} : { dirty: { virtualServers: dirtyVs, sets: dirtySets, addresses: addressesParsed, nft: nftParsed } }),
  };
}

/**
 * The read, but for the objects applied since it ended: those as applied (`known`). Sound: the
 * read completed before that apply (a read overlapped by one is never used), so for every other
 * object it shows the kernel as any resync's read does; the applied ones changed only by what
 * was applied, which `known` holds. A drift of theirs before the apply is read at the next resync
 * (their blocks are not recorded: the dataplane forgets them).
 */
function overlay(read: KernelState, known: KernelState, since: SinceRead): KernelState {
  const ipvs = read.ipvs as Map<string, ObservedService>;
  for (const k of since.virtualServers) {
    const s = known.ipvs.get(k);
    if (s === undefined) ipvs.delete(k); else ipvs.set(k, s);
  }
  const sets = read.sets as Map<string, ObservedSet>;
  for (const name of since.sets) {
    const s = known.sets.get(name);
    if (s === undefined) sets.delete(name); else sets.set(name, s);
  }
  return {
    ...read,
    ...(since.addresses ? { bound: known.bound, linkExists: known.linkExists } : {}),
    ...(since.iptables ? { iptables: known.iptables } : {}),
    ...(since.nft ? { nft: known.nft, sets: new Map(known.sets) } : {}),
  };
}
