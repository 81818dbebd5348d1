// A resync's read verified a slice at a time, so that a change asked for meanwhile never waits
// for the whole parse (the first resync after a cold sync that filled the kernel has no block
// recorded: 82,500 blocks at 50,000 Services, seconds of parsing in one stretch).
//
// Each block not yet recorded (kernel-read.ts) is parsed and compared with what was applied
// (`known`); one that holds exactly that is recorded at once. Sound as a record made after a
// clean sync: a record says "a block of these bytes holds `known`'s value for its object", a
// fact about the bytes (the parse is deterministic), true for as long as `known`'s value stays —
// and the dataplane forgets a record whenever a batch touches its object, all of them when a
// batch fails. A block whose object was applied since the read ended (`since`) is stale and is
// not recorded. So a verification paused for a change keeps what it found, and the resync's own
// sync then parses only the blocks that differ (drift, or pending changes) and diffs those.
import { createHash, type Hash } from 'node:crypto';
import type { InterfaceAddress } from '../tools/ip.ts';
import { boundAddresses, parseAddrShow } from '../tools/ip.ts';
import { parseIpsetSave, setBlockAgainst, type ObservedSet } from '../tools/ipset.ts';
import { ipvsadmSaveParser, keyOfServiceArg, savedTexts, type ObservedService } from '../tools/ipvsadm.ts';
import { digestOf, eachIpvsBlock, ipsetBlocks, type Block } from '../tools/dump-blocks.ts';
import type { BlockRecords, SinceRead, Touched } from './kernel-read.ts';
import { kernelDigest, type KernelState, type KernelText } from './kernel-state.ts';

/** Bytes of the IPVS dump hashed per step of the kernel digest. */
const HASH_CHUNK = 1 << 20;

type Phase = 'hash' | 'digest' | 'ipvs' | 'sets' | 'addresses' | 'done';

export class ReadVerifier {
  readonly #t: KernelText;
  readonly #addresses: { readonly lines: Buffer; readonly digest: string };
  readonly #parse = ipvsadmSaveParser();
  #phase: Phase = 'hash';
  #hash: Hash | undefined = createHash('sha256');
  #hashed = 0;
  #ipvsCut: Iterator<Block> | undefined;
  /** Every IPVS block cut (not so when the digest was found unchanged: nothing was). */
  #allCut = false;
  #setAt = 0;
  readonly #ipvs: Block[] = [];
  #sets: readonly Block[] = [];
  readonly #ids = new Set<string>();
  #digest: string | undefined;
  /** Blocks parsed; found as applied and recorded (parsed, or `printed`: the bytes printed for what was applied). */
  parsed = 0;
  recorded = 0;
  printed = 0;

  constructor(t: KernelText, addresses: { readonly lines: Buffer; readonly digest: string }) {
    this.#t = t;
    this.#addresses = addresses;
  }

  get done(): boolean { return this.#phase === 'done'; }

  /** kube-ipvs0's address lines of the read and their digest (linkAddressLines). */
  get addresses(): { readonly lines: Buffer; readonly digest: string } { return this.#addresses; }

  /** The kernel's digest (kernelDigest) once computed. */
  get digest(): string | undefined { return this.#digest; }

  /** The blocks cut, for the sync that takes this read (kernel-read.ts readState); once done. */
  get cut(): { readonly ipvs: readonly Block[]; readonly sets: readonly Block[] } | undefined {
    return this.#allCut ? { ipvs: this.#ipvs, sets: this.#sets } : undefined;
  }

  /**
   * Works until `budgetMs` have passed (at least one unit of work) or everything is verified;
   * returns whether it is. `clean`: the digest of the last resync that found nothing to do —
   * equal, the sync takes its shortcut and nothing needs verifying.
   */
  step(known: KernelState, records: BlockRecords, since: SinceRead, clean: string | undefined, budgetMs: number): boolean {
    const until = performance.now() + budgetMs;
    do {
      switch (this.#phase) {
        case 'hash': this.#hashSome(); break;
        case 'digest': this.#finishDigest(clean); break;
        case 'ipvs': this.#ipvsSome(known, records, since); break;
        case 'sets': this.#setsSome(known, records, since); break;
        case 'addresses': this.#verifyAddresses(known, records, since); break;
        case 'done': return true;
      }
    } while (performance.now() < until);
    return this.done;
  }

  #hashSome(): void {
    const end = Math.min(this.#t.ipvs.length, this.#hashed + HASH_CHUNK);
    this.#hash?.update(this.#t.ipvs.subarray(this.#hashed, end));
    this.#hashed = end;
    if (end >= this.#t.ipvs.length) this.#phase = 'digest';
  }

  #finishDigest(clean: string | undefined): void {
    this.#sets = ipsetBlocks(this.#t.sets);
    const hash = this.#hash;
    this.#hash = undefined;
    this.#digest = hash === undefined ? undefined : kernelDigest(this.#t, this.#addresses, { ipvs: hash, sets: this.#sets });
    // Unchanged since a resync that needed nothing: nothing to verify (the blocks are not cut).
    if (this.#digest !== undefined && this.#digest === clean) { this.#phase = 'done'; return; }
    this.#ipvsCut = eachIpvsBlock(this.#t.ipvs);
    this.#phase = 'ipvs';
  }

  /** Up to 64 blocks: cut and hashed, and parsed when not recorded. */
  #ipvsSome(known: KernelState, records: BlockRecords, since: SinceRead): void {
    for (let n = 0; n < 64; n++) {
      const next = this.#ipvsCut?.next();
      if (next === undefined || next.done === true) { this.#ipvsCut = undefined; this.#allCut = true; this.#phase = 'sets'; return; }
      const b = next.value;
      this.#ipvs.push(b);
      const twice = this.#ids.has(b.id);
      this.#ids.add(b.id);
      if (twice || b.id === '') continue; // always parsed by the sync (kernel-read.ts)
      const key = records.ipvs(b.id, b.digest);
      if (key !== undefined && known.ipvs.has(key)) continue;
      // Exactly the bytes ipvsadm prints for what was applied: as applied, without a parse (the
      // first resync after a cold sync, and after changes: every block the sync wrote).
      const k = keyOfServiceArg(b.id);
      const was = k === undefined || since.virtualServers.has(k) ? undefined : known.ipvs.get(k);
      if (k !== undefined && was !== undefined && printedAs(was, b.digest)) {
        records.recordIpvs(b.id, b.digest, k);
        this.recorded++;
        this.printed++;
        continue;
      }
      this.parsed++;
      const parsed = [...this.#parse(this.#t.ipvs.toString('utf8', b.start, b.end)).services.values()];
      const s = parsed.length === 1 ? parsed[0] : undefined;
      if (s === undefined || since.virtualServers.has(s.key)) continue;
      const applied = known.ipvs.get(s.key);
      if (applied !== undefined && sameService(s, applied)) { records.recordIpvs(b.id, b.digest, s.key); this.recorded++; }
    }
  }

  /** One set block (sets are few and large). */
  #setsSome(known: KernelState, records: BlockRecords, since: SinceRead): void {
    const b = this.#sets[this.#setAt++];
    if (b === undefined) { this.#phase = 'addresses'; return; }
    const applied = known.sets.get(b.id);
    if (b.id === '' || applied === undefined || since.sets.has(b.id) || records.set(b.id, b.digest)) return;
    this.parsed++;
    // Read off the bytes, against what was applied, when the block is of the plain shape.
    const read = setBlockAgainst(this.#t.sets.subarray(b.start, b.end), applied.members);
    if (read !== undefined) {
      if (read.header.name === b.id && read.same && sameHeader(read.header, applied)) { records.recordSet(b.id, b.digest); this.recorded++; }
      return;
    }
    const parsed = parseIpsetSave(this.#t.sets.toString('utf8', b.start, b.end));
    const s = parsed.size === 1 ? parsed.get(b.id) : undefined;
    if (s !== undefined && sameSet(s, applied)) { records.recordSet(b.id, b.digest); this.recorded++; }
  }

  #verifyAddresses(known: KernelState, records: BlockRecords, since: SinceRead): void {
    this.#phase = 'done';
    if (since.addresses || records.addresses(this.#addresses.digest)) return;
    const bound = boundAddresses(parseAddrShow(this.#addresses.lines.toString('utf8')));
    if (sameBound(bound, known.bound)) records.recordAddresses(this.#addresses.digest);
  }
}

/** Whether a block of this digest is one of the texts ipvsadm prints for `s` (savedTexts, tried in turn). */
function printedAs(s: ObservedService, digest: string): boolean {
  for (const t of savedTexts(s)) if (digestOf(t) === digest) return true;
  return false;
}

/** Everything a diff of IPVS looks at (diff/ipvs.ts); real servers in any order. */
export function sameService(a: ObservedService, b: ObservedService): boolean {
  if (a.key !== b.key || a.scheduler !== b.scheduler || a.persistence !== b.persistence || a.netmask !== b.netmask) return false;
  if (a.schedulerFlags.join(',') !== b.schedulerFlags.join(',') || a.otherOptions.join(' ') !== b.otherOptions.join(' ')) return false;
  if (a.realServers.length !== b.realServers.length) return false;
  const byAddr = new Map(a.realServers.map((r) => [`${r.ip.text}/${String(r.port)}`, r]));
  if (byAddr.size !== a.realServers.length) return false;
  return b.realServers.every((r) => {
    const o = byAddr.get(`${r.ip.text}/${String(r.port)}`);
    return o !== undefined && o.weight === r.weight && o.forwarding === r.forwarding;
  });
}

/** Everything a diff of sets looks at (diff/ipsets.ts: type, family, range, maxelem, members). */
export function sameSet(a: ObservedSet, b: ObservedSet): boolean {
  if (!sameHeader(a, b) || a.members.size !== b.members.size) return false;
  for (const m of a.members) if (!b.members.has(m)) return false;
  return true;
}

/** A set's kind as a diff of sets looks at it: type, family, range, maxelem. */
function sameHeader(a: Pick<ObservedSet, 'type' | 'options'>, b: Pick<ObservedSet, 'type' | 'options'>): boolean {
  return a.type === b.type && ['family', 'range', 'maxelem'].every((k) => a.options.get(k) === b.options.get(k));
}

function sameBound(a: ReadonlyMap<string, InterfaceAddress>, b: ReadonlyMap<string, InterfaceAddress>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, x] of a) {
    const y = b.get(k);
    if (y === undefined || y.prefix !== x.prefix || y.ifname !== x.ifname) return false;
  }
  return true;
}

/** What was applied since a read ended (kernel-read.ts SinceRead), gathered batch by batch. */
export class AppliedSince implements SinceRead {
  readonly virtualServers = new Set<string>();
  readonly sets = new Set<string>();
  addresses = false;
  nft = false;
  iptables = false;

  add(t: Touched, iptables: boolean): void {
    for (const k of t.virtualServers) this.virtualServers.add(k);
    for (const s of t.sets) this.sets.add(s);
    this.addresses ||= t.addresses;
    this.nft ||= t.nft;
    this.iptables ||= iptables;
  }

  get empty(): boolean {
    return this.virtualServers.size === 0 && this.sets.size === 0 && !this.addresses && !this.nft && !this.iptables;
  }
}
