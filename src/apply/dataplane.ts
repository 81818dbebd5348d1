// The one writer of kernel state. A sync: observe (the kernel on a full sync, else what was
// last applied), diff (pure), apply one batch per tool that has changes. After any failed or
// doubtful batch the state is "unknown" and the next sync observes the kernel again rather
// than guessing what was applied (`ipvsadm -R` is not a transaction).
import type { Cidr, Family } from '../compute/net/ip.ts';
import type { DesiredState } from '../compute/model/desired.ts';
import { diffAddresses, incrementalAddressChanges, noAddressChanges } from '../compute/diff/addresses.ts';
import { diffIpsets, incrementalSetDeltas, type IpsetDiff } from '../compute/diff/ipsets.ts';
import { iptablesDrift } from '../compute/diff/iptables.ts';
import { diffIpvs, type IpvsDiff } from '../compute/diff/ipvs.ts';
import type { Log } from '../log.ts';
import { deleteByEndpointArgv, deleteByServiceArgv } from '../tools/conntrack.ts';
import { deleteEntries } from './conntrack.ts';
import type { Runner } from './exec.ts';
import { DataplaneError, ipvsFailure } from './dataplane-error.ts';
import { applyIpBatch } from './ip.ts';
import { formatIpBatch } from '../tools/ip.ts';
import { applyIpsetScript } from './ipset.ts';
import { formatDeltaScript, type SetDelta } from '../tools/ipset.ts';
import { applyIptables } from './iptables.ts';
import { formatRestore, type Backend } from '../tools/iptables.ts';
import { applyIpvsBatch, readConnCounts } from './ipvsadm.ts';
import { formatIpvsBatch, formatIpvsOp, type IpvsOp, type ObservedService } from '../tools/ipvsadm.ts';
import { afterApply, afterIncremental, kernelDigest, observeKernel, readKernelText, type KernelState, type KernelText } from './kernel-state.ts';
import { BlockRecords, readState, type Dirty, type ReadCost, type Touched } from './kernel-read.ts';
import { AppliedSince, ReadVerifier } from './verify-read.ts';
import { setImmediate as yieldToEvents } from 'node:timers/promises';
import { virtualServerKey } from '../compute/model/types.ts';
import { DUMMY_LINK, type AddressChanges } from '../tools/ip.ts';
import { linkAddressLines } from '../tools/dump-blocks.ts';
import type { Changes } from '../compute/model/desired-index.ts';
import { NODE_PORT_SET_NAMES, ownsService, type OwnershipRule } from './ownership.ts';
import { buildNftTable, nftSetName, type RulesBackend } from '../compute/model/nft.ts';
import { afterOps, diffNft, incrementalNft } from '../compute/diff/nft.ts';
import { formatNftScript, type NftOp } from '../tools/nft.ts';
import { applyNftScript } from './nft.ts';
import { removeOtherBackend } from './backend-switch.ts';

export interface DataplaneOptions {
  readonly runner: Runner;
  readonly families: readonly Family[];
  /** IPVS services inside these are never changed (--ipvs-exclude-cidrs). */
  readonly excludeCidrs: readonly Cidr[];
  readonly backend?: Backend;
  /** --ipvs-rules-backend (default iptables): where the masquerade and filter rules live. */
  readonly rules?: RulesBackend;
  readonly log: Log;
  /** A resync's verification of its read works this long between yields to the event loop (ms). */
  readonly sliceMs?: number;
}

/**
 * A kernel read in flight: what member changes were applied meanwhile, or whether a batch that
 * may shift the dumps (see `membersOnly`) or that failed overlapped it.
 */
interface ReadTrack {
  overlapped: boolean;
  readonly since: AppliedSince;
}

/** The latest kernel read, for the full sync that takes it (`sync`'s `text`). */
interface LatestRead {
  readonly text: KernelText;
  /** Never used: a batch ran during it that may have shifted other objects in the dumps, or failed. */
  readonly overlapped: boolean;
  /** Applied while or since it was read: stale in the read, as applied in `#known`. */
  readonly since: AppliedSince;
  verifier?: ReadVerifier;
}

const SLICE_MS = 4;

export interface SyncResult {
  readonly full: boolean;
  /** Operations applied per tool. */
  readonly changes: { readonly ipvs: number; readonly ipset: number; readonly iptables: number; readonly addresses: number };
  /** On a full sync: changes that were needed although the last applied state did not need them. */
  readonly repairs: number;
  readonly draining: number;
  readonly conntrackDeletes: number;
  /**
   * A full sync that found the kernel exactly as at the last one that needed nothing, with
   * nothing applied or wanted since: the dumps were read and digested, not parsed and diffed.
   */
  readonly unchanged?: true;
  /** A full sync that read the kernel: how much of the read was parsed (kernel-read.ts). */
  readonly read?: ReadCost;
}

export { DataplaneError } from './dataplane-error.ts';

const isEmpty = (c: Changes): boolean =>
  c.virtualServers.size === 0 && c.sets.size === 0 && c.addresses.added.length === 0 && c.addresses.removed.length === 0 && !c.iptables;

export class Dataplane {
  readonly #o: DataplaneOptions;
  #known: KernelState | undefined;
  /**
   * The kernel's digest at the last full sync that needed no change, while nothing has been
   * applied since (any batch clears it): the next periodic resync that reads the same digest,
   * with no change wanted, has nothing to repair (see kernelDigest).
   */
  #clean: string | undefined;
  /** Blocks of the last read known unchanged since (kernel-read.ts); valid only with #known. */
  #records: BlockRecords | undefined;

  #read: LatestRead | undefined;
  readonly #reading = new Set<ReadTrack>();
  #applying = false;
  #applyingMembers = false;

  /** Whether the other rules backend's leftovers were removed (once, after a first clean sync). */
  #otherRemoved = false;

  constructor(o: DataplaneOptions) { this.#o = o; }

  get #rules(): RulesBackend { return this.#o.rules ?? 'iptables'; }

  /** Forget what was applied: the next sync reads the kernel. */
  invalidate(): void { this.#known = undefined; this.#clean = undefined; this.#records = undefined; this.#read = undefined; }

  /**
   * Whether kube-ipvs may change an IPVS service: an address service, outside the excluded
   * CIDRs, on an address bound to kube-ipvs0, a NodePort marked by the KUBE-NODE-PORT-* sets
   * (ownership.ts), or one we want. Anything else (a user's own service, fwmark services) is
   * left alone.
   */
  owner(state: KernelState, desired: DesiredState): (s: ObservedService) => boolean {
    const rule: OwnershipRule = {
      families: this.#o.families,
      excludeCidrs: this.#o.excludeCidrs,
      bound: state.bound,
      sets: state.sets,
      wanted: (key) => desired.virtualServers.has(key),
    };
    return (s) => ownsService(rule, s);
  }

  /** What a sync would do, without doing it (--dry-run). Reads the kernel every time. */
  async dryRun(desired: DesiredState): Promise<{ ipvs: readonly IpvsOp[]; result: SyncResult }> {
    const observed = await this.#observe();
    const p = await this.#diff(desired, observed, true, undefined);
    return { ipvs: p.ipvs.ops, result: p.result };
  }

  /**
   * The kernel's dumps, for a full sync that reads them before it takes the cluster's changes
   * (`sync`'s `text`): valid only while nothing is applied between this read and that sync.
   */
  async readKernel(): Promise<KernelText> {
    // A batch in flight as the read starts: a member batch adds what it touched once done.
    const track: ReadTrack = { overlapped: this.#applying && !this.#applyingMembers, since: new AppliedSince() };
    this.#reading.add(track);
    let text: KernelText;
    try {
      text = await readKernelText(this.#o.runner, this.#o.families, this.#o.backend, this.#rules);
    } finally {
      this.#reading.delete(track);
    }
    // One still in flight now adds what it touched to this read once done, or spoils it if it fails.
    this.#read = { text, overlapped: track.overlapped, since: track.since };
    return text;
  }

  /** Whether a full sync can take `text` (the latest read, not spoiled by a batch during it). */
  usable(text: KernelText): boolean {
    return this.#read?.text === text && !this.#read.overlapped;
  }

  /**
   * Verifies the latest read (`readKernel`) a slice at a time, yielding to the event loop between
   * slices (verify-read.ts): blocks found as applied are recorded, so the full sync that takes
   * this read parses and diffs only the others. Resolves 'paused' when `pause()` says so after a
   * slice: a change may then be applied (`sync` without `full`) and `verify` called again — the
   * read stays usable, what was applied since is taken from what was applied.
   */
  async verify(text: KernelText, pause: () => boolean): Promise<'done' | 'paused'> {
    for (;;) {
      if (pause()) return 'paused';
      const read = this.#read;
      const known = this.#known;
      const records = this.#records;
      // Nothing to record against (the sync parses everything), or a read it will not use.
      if (read?.text !== text || read.overlapped || known === undefined || records === undefined) return 'done';
      read.verifier ??= new ReadVerifier(text, linkAddressLines(text.addresses, DUMMY_LINK));
      if (read.verifier.step(known, records, read.since, this.#clean, this.#o.sliceMs ?? SLICE_MS)) return 'done';
      await yieldToEvents();
    }
  }

  /**
   * One sync. With `changes` (what changed since the last sync) and no full sync asked, only
   * those objects are diffed against what was last applied: the cost follows the change.
   * A full sync reads the kernel; once blocks of an earlier read are recorded (kernel-read.ts)
   * it parses and diffs only the changed blocks and the changed objects, so a periodic resync
   * costs what changed since, drift included. `text`: the kernel's dumps read by `readKernel`
   * since the last batch, used instead of reading them again.
   */
  async sync(desired: DesiredState, opts: { readonly full: boolean; readonly changes?: Changes; readonly text?: KernelText }): Promise<SyncResult> {
    try {
      return await this.#sync(desired, opts);
    } catch (e) {
      // `changes` were handed over and not applied (a failed read too): the next full sync must
      // diff everything it reads, not only the changed blocks, nor trust an unchanged digest.
      // Nor use a read taken before: what the failed batch left is not known.
      this.#records = undefined;
      this.#clean = undefined;
      this.#read = undefined;
      throw e;
    }
  }

  async #sync(desired: DesiredState, opts: { readonly full: boolean; readonly changes?: Changes; readonly text?: KernelText }): Promise<SyncResult> {
    const known = this.#known;
    const records = this.#records;
    let observed = known;
    let digest: string | undefined;
    let read: ReturnType<typeof readState> | undefined;
    let verified: ReadVerifier | undefined;
    // The caller's read, unless a batch overlapped it or failed since (then read afresh).
    const given = opts.text !== undefined && this.#read?.text === opts.text && !this.#read.overlapped ? this.#read : undefined;
    const since = given?.since.empty === false ? given.since : undefined;
    if (known === undefined || opts.full) {
      const text = given?.text ?? await this.readKernel();
      this.#read = undefined; // taken by this sync
      verified = given?.verifier;
      const addresses = verified?.addresses ?? linkAddressLines(text.addresses, DUMMY_LINK);
      digest = verified?.digest ?? kernelDigest(text, addresses);
      // Of a read stale for what was applied since: no shortcut, and not the kernel's digest now.
      if (since !== undefined) digest = undefined;
      // The cheap periodic resync: a no-change full diff (parse, render, diff, count repairs)
      // costs as much as a cold sync; a digest of the same dumps costs a fraction of it.
      if (known !== undefined && opts.changes !== undefined && isEmpty(opts.changes) && digest !== undefined && digest === this.#clean) {
        return { full: true, changes: { ipvs: 0, ipset: 0, iptables: 0, addresses: 0 }, repairs: 0, draining: 0, conntrackDeletes: 0, unchanged: true };
      }
      // Otherwise only the blocks changed since they were last known are parsed (kernel-read.ts).
      const cut = verified?.cut;
      read = readState(text, this.#o.families, known, records, addresses, { ...(cut === undefined ? {} : { cut }), ...(since === undefined ? {} : { since }) });
      observed = read.state;
    }
    if (observed === undefined) throw new Error('unreachable: the kernel is read when nothing is known');
    this.#known = undefined; // unknown until every batch has applied cleanly
    this.#clean = undefined;
    this.#records = undefined;
    const full = opts.full || known === undefined;
    // A resync on recorded blocks: what was parsed, what is wanted anew, and what is missing or
    // extra on either side is diffed; every other object is as last applied, and so as wanted.
    const scope: Scope | undefined = opts.changes === undefined ? undefined
      : !full ? { only: opts.changes } : read?.dirty !== undefined ? { only: opts.changes, dirty: read.dirty } : undefined;
    const p = await this.#diff(desired, observed, full, full ? known : undefined, scope);

    // Sets before the rules that match them; addresses before the services on them. A NodePort
    // leaves its KUBE-NODE-PORT-* set only after its virtual servers are gone: the membership
    // is what marks them as ours (ownership.ts), also for the sync after a failed batch.
    await this.#batch(membersOnly(p), () => this.#apply(p));
    const conntrackDeletes = await this.#clearUdpConntrack(p.ipvs.ops);
    // A scoped diff changes the read state in place (built for this sync, or the known one).
    const after = scope === undefined
      ? afterApply(observed, desired, p.owns, p.ipvs.drainingServers)
      : afterIncremental(observed, desired, { virtualServers: p.keys ?? [], sets: p.sets, addresses: p.addrs, iptables: p.restores.length > 0 }, p.owns, p.ipvs.drainingServers);
    this.#known = p.nft === undefined ? after : { ...after, nft: afterOps(observed.nft, p.nft, NFT_TABLE_NAME) };
    // What this sync applied is no longer as read (or as recorded); the rest is. The other
    // backend's removal below touches nothing read here (the nft table with iptables rules; the
    // ipsets and chains with nftables rules, whose sets are read from the table).
    const touched = touchedBy(p.ipvs.ops, p.sets, p.addrs, p.nft);
    if (read !== undefined) this.#records = BlockRecords.after(read.blocks, since === undefined ? touched : union(touched, since));
    else if (records !== undefined) { records.forget(touched); this.#records = records; }
    this.#appliedSinceRead(touched, p.restores.length > 0);
    if (full && !this.#otherRemoved) this.#otherRemoved = await removeOtherBackend(this.#o.runner, this.#rules, this.#o.log);
    if (p.result.repairs > 0) this.#o.log.warn({ repairs: p.result.repairs }, 'kernel state drifted from what kube-ipvs applied; repaired');
    const c = p.result.changes;
    if (digest !== undefined && c.ipvs + c.ipset + c.iptables + c.addresses === 0 && conntrackDeletes === 0) this.#clean = digest;
    const verification = verified === undefined ? {} : { verified: { parsed: verified.parsed, printed: verified.printed } };
    return { ...p.result, conntrackDeletes, ...(read === undefined ? {} : { read: { ...read.cost, ...verification } }) };
  }

  /**
   * Runs batches, telling the reads in flight. A batch that only changes members of existing
   * objects (`membersOnly`) leaves a read usable: what it touched is taken from what was applied
   * (#appliedSinceRead). Any other, or a failed one, spoils the reads it overlaps.
   */
  async #batch(members: boolean, fn: () => Promise<void>): Promise<void> {
    if (!members) for (const t of this.#reading) t.overlapped = true;
    this.#applying = true;
    this.#applyingMembers = members;
    try {
      await fn();
    } catch (e) {
      for (const t of this.#reading) t.overlapped = true;
      this.#read = undefined;
      throw e;
    } finally {
      this.#applying = false;
    }
  }

  /** A batch applied cleanly: the latest read, and those in flight, are stale for what it touched. */
  #appliedSinceRead(touched: Touched, iptables: boolean): void {
    this.#read?.since.add(touched, iptables);
    for (const t of this.#reading) t.since.add(touched, iptables);
  }

  /** The batches of a diff, in the order that keeps ownership marks until they are not needed. */
  async #apply(p: Plan): Promise<void> {
    const [sets, afterIpvs] = splitNodePortDeletes(p.sets);
    // nftables: every set and rule change in one transaction; only when virtual servers are
    // deleted, the NodePort marks' deletions (see above) wait for IPVS in a second one.
    const [nftNow, nftLater] = p.ipvs.ops.some((o) => o.op === 'delete-service') ? splitNftNodePortDeletes(p.nft) : [p.nft ?? [], []];
    if (p.nft !== undefined) await this.#step('nft', () => applyNftScript(this.#o.runner, formatNftScript(NFT_TABLE_NAME, nftNow)));
    else await this.#step('ipset', () => applyIpsetScript(this.#o.runner, formatDeltaScript(sets)));
    for (const r of p.restores) {
      await this.#step(r.family === 4 ? 'iptables-restore' : 'ip6tables-restore', () => applyIptables(this.#o.runner, { family: r.family, ...(this.#o.backend === undefined ? {} : { backend: this.#o.backend }) }, r.payload));
    }
    // Unbinds wait until the virtual servers on those addresses are gone: a bound address is
    // what marks a leftover virtual server as ours (ownership.ts), so if the ipvsadm batch
    // fails the next sync still deletes it instead of leaking it for good.
    const bind = { ...p.addrs, del: [] };
    const unbind = { createLink: false, add: [], del: p.addrs.del };
    if (!noAddressChanges(bind)) await this.#step('ip', () => applyIpBatch(this.#o.runner, formatIpBatch(bind)));
    const batch = formatIpvsBatch(p.ipvs.ops);
    const res = await applyIpvsBatch(this.#o.runner, batch).catch((e: unknown) => { throw DataplaneError.fromTool('ipvsadm', e); });
    if (!res.clean) throw await ipvsFailure(this.#o.runner, batch, res);
    if (!noAddressChanges(unbind)) await this.#step('ip', () => applyIpBatch(this.#o.runner, formatIpBatch(unbind)));
    if (p.nft !== undefined) await this.#step('nft', () => applyNftScript(this.#o.runner, formatNftScript(NFT_TABLE_NAME, nftLater)));
    else await this.#step('ipset', () => applyIpsetScript(this.#o.runner, formatDeltaScript(afterIpvs)));
  }

  /**
   * The diff of every tool; `known` (on a full sync) is what we last applied, to count repairs.
   * Without `scope`, of everything; with it, of the pending changes (and on a resync, of the
   * dirty objects), the cost following the change.
   */
  async #diff(desired: DesiredState, observed: KernelState, full: boolean, known: KernelState | undefined, scope?: Scope): Promise<Plan> {
    const owns = this.owner(observed, desired);
    const keys = scope === undefined ? undefined : ipvsKeys(desired, observed, scope);
    const k = keys === undefined ? {} : { keys };
    let ipvs = diffIpvs(desired.virtualServers, observed.ipvs, { owns, ...k });
    if (ipvs.needsConns) ipvs = diffIpvs(desired.virtualServers, observed.ipvs, { owns, ...k, conns: await readConnCounts(this.#o.runner, ipvs.needsConnsFor) });
    const sets = setDiff(desired, observed, scope);
    const nft = this.#rules === 'nftables' ? nftOps(desired, observed, scope) : undefined;
    if (nft === undefined && sets.conflicts.length > 0) throw new DataplaneError('ipset', `ipset: ${sets.conflicts.join('; ')}`);
    const restores = nft !== undefined || (scope !== undefined && scope.dirty === undefined && !scope.only.iptables) ? [] : desired.iptables
      .filter((s) => iptablesDrift(s, observed.iptables.get(s.family) ?? new Map()) > 0)
      .map((s) => ({ family: s.family, payload: formatRestore(s, observed.iptables.get(s.family) ?? new Map()) }));
    const addrs = addressDiff(desired, observed, scope);
    // Nothing to apply is nothing repaired: the diff against what was applied is skipped.
    const none = ipvs.ops.length === 0 && sets.deltas.length === 0 && restores.length === 0 && noAddressChanges(addrs) && (nft === undefined || nft.length === 0);
    const repairs = known === undefined || none
      ? 0
      : this.#repairs(desired, known, { ipvs, setDeltas: sets.deltas.length, restores: restores.length, addrs: addrs.add.length + addrs.del.length, nft }, keys, scope);
    const result: SyncResult = {
      full,
      changes: {
        ipvs: ipvs.ops.length,
        // nftables: element changes count as set changes, chain and table (re)writes as rule changes.
        ipset: nft === undefined ? sets.deltas.reduce((n, d) => n + d.add.length + d.del.length + (d.create ? 1 : 0), 0) : nftElementChanges(nft),
        iptables: nft === undefined ? restores.length : nft.length - nft.filter((o) => o.op === 'add-elements' || o.op === 'delete-elements').length,
        addresses: addrs.add.length + addrs.del.length + (addrs.createLink ? 1 : 0),
      },
      repairs,
      draining: ipvs.draining.length,
      conntrackDeletes: 0,
    };
    return { owns, ipvs, sets: sets.deltas, restores, addrs, result, nft, keys };
  }

  /**
   * Deletes draining real servers whose connections have all ended (kube-proxy checks every
   * minute). One `ipvsadm -Ln --exact` read and at most one `ipvsadm -R`.
   */
  async checkDrains(desired: DesiredState): Promise<number> {
    const known = this.#known;
    if (known === undefined) return 0;
    const hasDraining = [...known.ipvs.values()].some((s) => s.realServers.some((rs) => rs.weight === 0));
    if (!hasDraining) return 0;
    const owns = this.owner(known, desired);
    const ipvs = diffIpvs(desired.virtualServers, known.ipvs, { owns, conns: await readConnCounts(this.#o.runner) });
    const deletes = ipvs.ops.filter((o) => o.op === 'delete-real');
    if (deletes.length === 0) return 0;
    const records = this.#records;
    this.#known = undefined;
    this.#clean = undefined;
    this.#records = undefined;
    const batch = formatIpvsBatch(deletes);
    await this.#batch(true, async () => {
      const res = await applyIpvsBatch(this.#o.runner, batch).catch((e: unknown) => { throw DataplaneError.fromTool('ipvsadm', e); });
      if (!res.clean) throw await ipvsFailure(this.#o.runner, batch, res);
    });
    this.#known = afterApply(known, desired, owns, ipvs.drainingServers);
    const touched = touchedBy(deletes, [], { createLink: false, add: [], del: [] }, undefined);
    records?.forget(touched);
    this.#records = records;
    this.#appliedSinceRead(touched, false);
    return deletes.length;
  }

  async #observe(): Promise<KernelState> {
    return observeKernel(this.#o.runner, this.#o.families, this.#o.backend);
  }

  async #step(tool: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (e) {
      throw DataplaneError.fromTool(tool, e);
    }
  }

  /**
   * UDP has no connection end: flows to a removed endpoint or service would linger (#71514).
   * Only flows to the removed frontend's own address and port go (conntrack.ts).
   */
  async #clearUdpConntrack(ops: readonly IpvsOp[]): Promise<number> {
    const calls = new Map<string, readonly string[]>();
    for (const o of ops) {
      if (o.vs.protocol !== 'UDP') continue;
      const argv = o.op === 'delete-real' ? deleteByEndpointArgv(o.rs.ip, o.vs.ip, o.vs.port)
        : o.op === 'delete-service' ? deleteByServiceArgv(o.vs.ip, o.vs.port) : undefined;
      if (argv !== undefined) calls.set(argv.join(' '), argv);
    }
    let n = 0;
    for (const argv of calls.values()) n += await this.#conntrack(argv);
    return n;
  }

  async #conntrack(argv: readonly string[]): Promise<number> {
    try {
      return await deleteEntries(this.#o.runner, argv);
    } catch (e) {
      // Stale flows expire by themselves; failing the sync for them would do more harm.
      this.#o.log.warn({ argv, err: e instanceof Error ? e.message : String(e) }, 'conntrack cleanup failed');
      return 0;
    }
  }

  /** Changes needed against the kernel that were not needed against what we last applied. */
  #repairs(
    desired: DesiredState, known: KernelState, actual: { ipvs: IpvsDiff; setDeltas: number; restores: number; addrs: number; nft: readonly NftOp[] | undefined },
    keys: ReadonlySet<string> | undefined, scope: Scope | undefined,
  ): number {
    const expected = diffIpvs(desired.virtualServers, known.ipvs, { owns: this.owner(known, desired), conns: new Map(), ...(keys === undefined ? {} : { keys }) });
    const expectedLines = new Set(expected.ops.map(formatIpvsOp));
    const ipvs = actual.ipvs.ops.map(formatIpvsOp).filter((l) => !expectedLines.has(l)).length;
    const nft = actual.nft === undefined ? 0 : actual.nft.length - nftOps(desired, known, scope).length;
    const sets = actual.nft !== undefined ? nft : actual.setDeltas - setDiff(desired, known, scope).deltas.length;
    const rules = actual.nft !== undefined ? 0 : actual.restores - desired.iptables.filter((t) => iptablesDrift(t, known.iptables.get(t.family) ?? new Map()) > 0).length;
    const a = addressDiff(desired, known, scope);
    return ipvs + Math.max(0, sets) + Math.max(0, rules) + Math.max(0, actual.addrs - a.add.length - a.del.length);
  }
}

/**
 * What a diff covers: the pending changes (`only`; an incremental sync), and on a resync that
 * read recorded blocks (kernel-read.ts) the objects parsed because their blocks changed.
 */
interface Scope {
  readonly only: Changes;
  readonly dirty?: Dirty;
}

/**
 * Virtual servers to diff: the changed ones; on a resync also the parsed ones and any wanted
 * but absent or present but not wanted (a deleted block, a stray service now ours) — a pass
 * over both maps, no parse.
 */
function ipvsKeys(desired: DesiredState, observed: KernelState, scope: Scope): ReadonlySet<string> {
  if (scope.dirty === undefined) return scope.only.virtualServers;
  const keys = new Set([...scope.only.virtualServers, ...scope.dirty.virtualServers]);
  for (const k of desired.virtualServers.keys()) if (!observed.ipvs.has(k)) keys.add(k);
  for (const k of observed.ipvs.keys()) if (!desired.virtualServers.has(k)) keys.add(k);
  return keys;
}

/** Set deltas: whole sets compared where parsed, missing, or without scope; member deltas else. */
function setDiff(desired: DesiredState, observed: KernelState, scope: Scope | undefined): IpsetDiff {
  if (scope === undefined) return diffIpsets(desired.ipsets, observed.sets);
  const dirty = scope.dirty;
  if (dirty === undefined) return { deltas: incrementalSetDeltas(desired.ipsets, scope.only.sets, observed.sets), conflicts: [] };
  const whole = desired.ipsets.filter((s) => dirty.sets.has(s.name) || !observed.sets.has(s.name));
  const full = diffIpsets(whole, observed.sets);
  const rest = desired.ipsets.filter((s) => !whole.includes(s));
  return { deltas: [...full.deltas, ...incrementalSetDeltas(rest, scope.only.sets, observed.sets)], conflicts: full.conflicts };
}

function addressDiff(desired: DesiredState, observed: KernelState, scope: Scope | undefined): AddressChanges {
  return scope === undefined || scope.dirty?.addresses === true
    ? diffAddresses(desired.addresses, observed.bound, observed.linkExists, desired.families)
    : incrementalAddressChanges(scope.only.addresses, observed.bound, observed.linkExists);
}

const NFT_TABLE_NAME = 'kube-ipvs';

/** What a sync's diff decided (Dataplane #diff). */
interface Plan {
  readonly owns: (s: ObservedService) => boolean;
  readonly ipvs: IpvsDiff;
  readonly sets: readonly SetDelta[];
  readonly restores: readonly { readonly family: Family; readonly payload: string }[];
  readonly addrs: AddressChanges;
  readonly result: SyncResult;
  readonly nft: readonly NftOp[] | undefined;
  readonly keys: ReadonlySet<string> | undefined;
}

/**
 * Whether a plan only changes members of objects that exist and stay: real servers, set members.
 * Such a batch run during a kernel read changes no other object's place in the dumps —
 * `ipvsadm -Sn` lists the virtual servers in one netlink dump and each one's real servers in a
 * dump of its own, `ipset save` dumps set after set — so the read stays right for every object
 * it did not touch, and the touched ones are taken from what was applied. One that adds or
 * removes a virtual server, a set, an address or rules could shift what a dump in progress
 * skips or repeats: the read is not used.
 */
function membersOnly(p: Plan): boolean {
  return p.ipvs.ops.every((o) => o.op === 'add-real' || o.op === 'edit-real' || o.op === 'delete-real')
    && p.sets.every((d) => !d.create && d.grow !== true)
    && noAddressChanges(p.addrs) && p.restores.length === 0 && (p.nft === undefined || p.nft.length === 0);
}

/** Two sets of touched objects as one. */
function union(a: Touched, b: Touched): Touched {
  return {
    virtualServers: new Set([...a.virtualServers, ...b.virtualServers]),
    sets: new Set([...a.sets, ...b.sets]),
    addresses: a.addresses || b.addresses,
    nft: a.nft || b.nft,
  };
}

/** The objects a sync's batches changed: their blocks are no longer as last read. */
function touchedBy(ipvs: readonly IpvsOp[], sets: readonly SetDelta[], addrs: AddressChanges, nft: readonly NftOp[] | undefined): Touched {
  const virtualServers = new Set<string>();
  let last: IpvsOp['vs'] | undefined;
  // A cold sync is 150,000 operations on 15,000 virtual servers, each op sharing its service's object.
  for (const o of ipvs) if (o.vs !== last) { last = o.vs; virtualServers.add(virtualServerKey(o.vs.protocol, o.vs.ip, o.vs.port)); }
  return {
    virtualServers,
    sets: sets.map((d) => d.set.name),
    addresses: !noAddressChanges(addrs),
    nft: nft !== undefined && nft.length > 0,
  };
}

/** The nftables backend's operations: the whole table on a full sync, the changed elements else. */
function nftOps(desired: DesiredState, observed: KernelState, scope: Scope | undefined): NftOp[] {
  const table = buildNftTable(desired.ipsets, desired.iptables);
  // The table is one block: parsed (changed) on a resync, it is diffed whole.
  const only = scope === undefined || scope.dirty?.nft === true ? undefined : scope.only;
  return only === undefined || observed.nft === undefined
    ? diffNft(table, observed.nft)
    : incrementalNft(table, desired.ipsets, only.sets, observed.nft);
}

const nftElementChanges = (ops: readonly NftOp[]): number =>
  ops.reduce((n, o) => n + (o.op === 'add-elements' || o.op === 'delete-elements' ? o.elements.length : 0), 0);

const NFT_NODE_PORT_SETS: ReadonlySet<string> = new Set(
  (['KUBE-NODE-PORT-TCP', 'KUBE-NODE-PORT-UDP', 'KUBE-NODE-PORT-SCTP-HASH'] as const).flatMap((b) => [nftSetName(b, 4), nftSetName(b, 6)]),
);

/** nft operations in two: all but the NodePort sets' element deletions, and those deletions. */
function splitNftNodePortDeletes(ops: readonly NftOp[] | undefined): [NftOp[], NftOp[]] {
  const now: NftOp[] = [];
  const later: NftOp[] = [];
  for (const o of ops ?? []) (o.op === 'delete-elements' && NFT_NODE_PORT_SETS.has(o.set) ? later : now).push(o);
  return [now, later];
}

/** The set deltas in two: all but the NodePort sets' deletions, and those deletions. */
function splitNodePortDeletes(deltas: readonly SetDelta[]): [SetDelta[], SetDelta[]] {
  const first: SetDelta[] = [];
  const later: SetDelta[] = [];
  for (const d of deltas) {
    if (!NODE_PORT_SET_NAMES.has(d.set.name) || d.del.length === 0) { first.push(d); continue; }
    first.push({ ...d, del: [] });
    later.push({ set: d.set, create: false, add: [], del: d.del });
  }
  return [first, later];
}
