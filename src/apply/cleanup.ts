// --cleanup / --cleanup-ipvs: remove kube-ipvs' (and kube-proxy IPVS mode's, same names)
// kernel state and nothing else, without an API server. kube-proxy's own --cleanup flushes
// ALL IPVS services on the host (`ipvsadm -C`); we deliberately delete only the virtual
// servers the sync would own (ownership.ts), so a user's own services survive.
// Observe once per tool, then one batch per tool. A failing tool does not stop the others;
// the error naming every failure comes at the end, with what was removed.
import { FILTER_CHAINS, NAT_CHAINS } from '../compute/model/iptables.ts';
import { virtualServerKey } from '../compute/model/types.ts';
import { SET_BASES, setName } from '../compute/model/ipsets.ts';
import type { Cidr, Family } from '../compute/net/ip.ts';
import type { Log } from '../log.ts';
import { moduleHint, ToolError, type Runner } from './exec.ts';
import { boundAddresses, DUMMY_LINK, type InterfaceAddress } from '../tools/ip.ts';
import { readAddresses, readLinks } from './ip.ts';
import { applyIpsetScript, readIpsets } from './ipset.ts';
import { formatDestroyScript, tempSetName } from '../tools/ipset.ts';
import { applyIptables, readIptables } from './iptables.ts';
import { formatCleanup, ruleTarget, ruleWords, type Backend, type IptablesTarget, type SavedTable } from '../tools/iptables.ts';
import { applyIpvsBatch, readIpvs } from './ipvsadm.ts';
import { formatIpvsBatch, type IpvsOp, type IpvsTable } from '../tools/ipvsadm.ts';
import { NODE_PORT_SET_NAMES, ownsService, type OwnershipRule, type SetMembers } from './ownership.ts';

export interface CleanupOptions {
  readonly runner: Runner;
  readonly log: Log;
  /** --ipvs-exclude-cidrs: IPVS services inside are never removed. */
  readonly excludeCidrs: readonly Cidr[];
}

/** An iptables chain (`text` = its name) or jump rule (`text` = its `-A …` line). */
export interface RemovedRule {
  /** `iptables-nft`, `ip6tables-legacy`, or plain `iptables` where no variant exists. */
  readonly binary: string;
  readonly table: string;
  readonly text: string;
}

/** What was removed, per kind; all empty when there was nothing left to remove. */
export interface CleanupReport {
  /** `TCP/10.96.0.10:80`. */
  readonly virtualServers: readonly string[];
  readonly links: readonly string[];
  /** `10.96.0.10/32`: kube-ipvs0's addresses, gone with the link. */
  readonly addresses: readonly string[];
  readonly sets: readonly string[];
  readonly chains: readonly RemovedRule[];
  readonly jumps: readonly RemovedRule[];
}

export const isEmptyReport = (r: CleanupReport): boolean => Object.values(r).every((v: readonly unknown[]) => v.length === 0);

export class CleanupStepError extends Error {
  readonly code = 'CLEANUP_STEP_FAILED';
  /** The tool (binary) whose step failed. */
  readonly tool: string;
  constructor(tool: string, message: string, cause?: unknown) {
    super(`${tool}: ${message}`, cause === undefined ? undefined : { cause });
    this.name = 'CleanupStepError';
    this.tool = tool;
  }
}

export class CleanupError extends AggregateError {
  readonly code = 'CLEANUP_FAILED';
  /** What was removed nonetheless. */
  readonly report: CleanupReport;
  constructor(errors: readonly CleanupStepError[], report: CleanupReport) {
    super(errors, `cleanup incomplete: ${errors.map((e) => e.message).join('; ')}`);
    this.name = 'CleanupError';
    this.report = report;
  }
}

const stepError = (tool: string, e: unknown): CleanupStepError =>
  e instanceof CleanupStepError ? e : new CleanupStepError(tool, e instanceof Error ? e.message : String(e), e);

// Every set name kube-proxy and kube-ipvs define, IPv6 ones included (kube-proxy's own cleanup
// forgets those), and the temporary sets a swap script interrupted half-way would leave.
const OWNED_SETS: ReadonlySet<string> = new Set(SET_BASES.flatMap((b) => [setName(b, 4), setName(b, 6)])
  .flatMap((n) => [n, tempSetName(n)]));

// Chains are owned per table: kube-proxy's iptables mode has a filter KUBE-SERVICES that is
// not ours to remove, for example.
const OWNED_CHAINS: Readonly<Record<string, ReadonlySet<string>>> = { nat: new Set(NAT_CHAINS), filter: new Set(FILTER_CHAINS) };
const ownedChain = (table: string) => (chain: string): boolean => OWNED_CHAINS[table]?.has(chain) ?? false;

interface Removed<T> { readonly removed: readonly T[]; readonly error?: CleanupStepError }

/**
 * Applies one batch. The batch tools are not transactions (DESIGN.md §6), so after a failure
 * we re-read what is left and report only what really went. A failure that left nothing
 * planned behind (removed meanwhile by someone else) is only a warning.
 */
async function batch<T>(
  tool: string, planned: readonly T[], key: (t: T) => string,
  apply: () => Promise<void>, left: () => Promise<readonly T[]>, log: Log,
): Promise<Removed<T>> {
  if (planned.length === 0) return { removed: [] };
  try {
    await apply();
    return { removed: planned };
  } catch (e) {
    const still = new Set((await left().catch(() => planned)).map(key));
    const removed = planned.filter((t) => !still.has(key(t)));
    if (removed.length === planned.length) {
      log.warn({ tool, err: e instanceof Error ? e.message : String(e) }, 'cleanup batch reported errors, but everything planned is gone');
      return { removed };
    }
    return { removed, error: stepError(tool, e) };
  }
}

async function removeVirtualServers(o: CleanupOptions, addresses: readonly InterfaceAddress[], sets: SetMembers, table: IpvsTable): Promise<Removed<string>> {
  const rule: OwnershipRule = {
    families: [4, 6], excludeCidrs: o.excludeCidrs, bound: boundAddresses(addresses), sets, wanted: () => false,
  };
  const ours = (t: IpvsTable): IpvsOp[] => [...t.services.values()]
    .filter((s) => ownsService(rule, s))
    .flatMap((s) => (s.target.kind === 'address' ? [{ op: 'delete-service' as const, vs: s.target }] : []));
  const ops = ours(table);
  const key = (op: IpvsOp): string => formatIpvsBatch([op]);
  const apply = async (): Promise<void> => {
    // ipvsadm -R reports kernel errors on stderr and may still exit 0.
    const r = await applyIpvsBatch(o.runner, formatIpvsBatch(ops));
    const hint = moduleHint(r.messages.join('\n'));
    if (!r.clean) throw new CleanupStepError('ipvsadm', `restore reported: ${r.messages.join('; ')}${hint === undefined ? '' : `; ${hint}`}`);
  };
  const r = await batch('ipvsadm', ops, key, apply, async () => ours(await readIpvs(o.runner)), o.log);
  return { ...r, removed: r.removed.map((op) => virtualServerKey(op.vs.protocol, op.vs.ip, op.vs.port)) };
}

async function removeLink(o: CleanupOptions, links: readonly string[]): Promise<Removed<string>> {
  const ours = (ls: readonly string[]): string[] => ls.filter((l) => l === DUMMY_LINK);
  const del = async (): Promise<void> => { await o.runner.run(['ip', 'link', 'del', DUMMY_LINK]); };
  return batch('ip', ours(links), (l) => l, del, async () => ours(await readLinks(o.runner)), o.log);
}

const matchSets = (rule: string): string[] => {
  const w = ruleWords(rule);
  return w.flatMap((x, i) => { const next = w[i + 1]; return x === '--match-set' && next !== undefined ? [next] : []; });
};

interface IptablesPlan {
  readonly chains: readonly RemovedRule[];
  readonly jumps: readonly RemovedRule[];
  readonly payload: string;
  /** Sets named by the rules that stay: they cannot be destroyed. */
  readonly references: ReadonlySet<string>;
}

function planIptables(binary: string, tables: ReadonlyMap<string, SavedTable>): IptablesPlan {
  const chains: RemovedRule[] = [];
  const jumps: RemovedRule[] = [];
  const references = new Set<string>();
  let payload = '';
  for (const [table, t] of tables) {
    const owned = ownedChain(table);
    payload += formatCleanup(new Map([[table, t]]), owned);
    for (const [chain, c] of t) {
      if (owned(chain)) { chains.push({ binary, table, text: chain }); continue; }
      for (const rule of c.rules) {
        const target = ruleTarget(rule);
        if (target !== undefined && owned(target)) jumps.push({ binary, table, text: rule });
        else matchSets(rule).forEach((n) => references.add(n));
      }
    }
  }
  return { chains, jumps, payload, references };
}

const binaryOf = (t: IptablesTarget): string =>
  `${t.family === 4 ? 'iptables' : 'ip6tables'}${t.backend === undefined ? '' : `-${t.backend}`}`;

interface IptablesResult {
  readonly chains: readonly RemovedRule[];
  readonly jumps: readonly RemovedRule[];
  readonly references: ReadonlySet<string>;
  readonly error?: CleanupStepError;
}

/** One save and at most one restore for one binary; undefined when it is not installed. */
async function cleanIptables(o: CleanupOptions, t: IptablesTarget): Promise<IptablesResult | undefined> {
  const binary = binaryOf(t);
  let observed: Map<string, SavedTable>;
  try {
    observed = await readIptables(o.runner, t);
  } catch (e) {
    if (e instanceof ToolError && e.code === 'TOOL_MISSING') return undefined;
    return { chains: [], jumps: [], references: new Set(), error: stepError(binary, e) };
  }
  const plan = planIptables(binary, observed);
  const key = (r: RemovedRule): string => `${r.table} ${r.text}`;
  const left = async (): Promise<RemovedRule[]> => { const p = planIptables(binary, await readIptables(o.runner, t)); return [...p.chains, ...p.jumps]; };
  const r = await batch(binary, [...plan.chains, ...plan.jumps], key, () => applyIptables(o.runner, t, plan.payload), left, o.log);
  const gone = new Set(r.removed);
  // After a failed restore our own rules may still match our sets: keep every set named.
  const all = new Set([...observed.values()].flatMap((tb) => [...tb.values()].flatMap((c) => c.rules.flatMap(matchSets))));
  return {
    chains: plan.chains.filter((c) => gone.has(c)), jumps: plan.jumps.filter((j) => gone.has(j)),
    references: r.error === undefined ? plan.references : all, ...(r.error === undefined ? {} : { error: r.error }),
  };
}

const BACKENDS: readonly Backend[] = ['nft', 'legacy'];

/**
 * Both backends, as either may hold kube-proxy's rules (it used whichever the node's iptables
 * pointed at when it ran). Where neither variant is installed (older distributions), the
 * plain binary. A binary that is not installed holds nothing: not an error.
 */
async function cleanFamily(o: CleanupOptions, family: Family): Promise<IptablesResult[]> {
  const found = (await Promise.all(BACKENDS.map((backend) => cleanIptables(o, { family, backend }))))
    .filter((r) => r !== undefined);
  if (found.length > 0) return found;
  const plain = await cleanIptables(o, { family });
  return plain === undefined ? [] : [plain];
}

/** Destroys our sets but those still matched by rules and, when asked, the NodePort marks. */
async function removeSets(o: CleanupOptions, read: SetMembers | undefined, references: ReadonlySet<string>, keepMarks: boolean): Promise<Removed<string>> {
  const ours = async (): Promise<string[]> =>
    (await o.runner.run(['ipset', 'list', '-n'])).stdout.split('\n').map((l) => l.trim()).filter((n) => OWNED_SETS.has(n));
  // The sets read at the start (for the NodePort marks) name them all: no second read.
  const present = read === undefined ? await ours() : [...read.keys()].filter((n) => OWNED_SETS.has(n));
  const kept = present.filter((n) => references.has(n));
  // Destroying these would mean deleting a rule that is not ours.
  if (kept.length > 0) o.log.warn({ sets: kept }, 'ipsets kept: rules kube-ipvs does not own still match them');
  const destroy = present.filter((n) => !references.has(n) && !(keepMarks && NODE_PORT_SET_NAMES.has(n)));
  return batch('ipset', destroy, (n) => n, () => applyIpsetScript(o.runner, formatDestroyScript(destroy)), ours, o.log);
}

export async function cleanup(o: CleanupOptions): Promise<CleanupReport> {
  const errors: CleanupStepError[] = [];
  const take = async <T>(tool: string, fn: () => Promise<Removed<T>>): Promise<readonly T[]> => {
    const r = await fn().catch((e: unknown): Removed<T> => ({ removed: [], error: stepError(tool, e) }));
    if (r.error !== undefined) errors.push(r.error);
    return r.removed;
  };
  // An absent ipset tool holds no sets: nothing is marked, nothing to destroy.
  const setsRead: Promise<SetMembers | undefined> = readIpsets(o.runner).catch((e: unknown) => {
    if (e instanceof ToolError && e.code === 'TOOL_MISSING') return new Map();
    errors.push(stepError('ipset', e));
    return undefined;
  });
  let keepMarks = false;
  const ipvsAndLink = async (): Promise<[readonly string[], readonly string[], readonly string[]]> => {
    const read = <T>(tool: string, p: Promise<T>): Promise<T | undefined> =>
      p.catch((e: unknown) => { errors.push(stepError(tool, e)); return undefined; });
    const before = errors.length; // (the iptables branch adds its errors only once both are done)
    // Which virtual servers are ours depends on kube-ipvs0's addresses and the NodePort sets:
    // read both before they go.
    const [addrs, table, links] = await Promise.all([
      read('ip', readAddresses(o.runner)), read('ipvsadm', readIpvs(o.runner)), read('ip', readLinks(o.runner)),
    ]);
    const sets = await setsRead;
    if ((addrs === undefined || sets === undefined) && table !== undefined) errors.push(new CleanupStepError('ipvsadm', 'not attempted: the interface addresses or ipsets, which tell our virtual servers apart, could not be read'));
    const vs = addrs === undefined || table === undefined || sets === undefined ? [] : await take('ipvsadm', () => removeVirtualServers(o, addrs, sets, table));
    if (errors.length > before) {
      // kube-ipvs0's addresses mark a ClusterIP service as ours, the NodePort sets a NodePort
      // one: keep both for a rerun.
      o.log.warn({ link: DUMMY_LINK, sets: [...NODE_PORT_SET_NAMES] }, 'kept: virtual servers of ours may remain');
      keepMarks = true;
      return [vs, [], []];
    }
    const gone = links === undefined ? [] : await take('ip', () => removeLink(o, links));
    const addresses = gone.length === 0 ? [] : (addrs ?? []).filter((a) => a.ifname === DUMMY_LINK).map((a) => `${a.ip.text}/${a.prefix}`);
    return [vs, gone, addresses];
  };
  // iptables runs alongside; sets wait for it, as a rule that matches a set holds the set.
  const [[virtualServers, links, addresses], iptables] = await Promise.all([
    ipvsAndLink(), Promise.all([cleanFamily(o, 4), cleanFamily(o, 6)]).then((rs) => rs.flat()),
  ]);
  for (const r of iptables) if (r.error !== undefined) errors.push(r.error);
  const references = new Set(iptables.flatMap((r) => [...r.references]));
  const sets = await take('ipset', async () => removeSets(o, await setsRead, references, keepMarks));
  const report: CleanupReport = {
    virtualServers, links, addresses, sets,
    chains: iptables.flatMap((r) => r.chains), jumps: iptables.flatMap((r) => r.jumps),
  };
  if (errors.length > 0) throw new CleanupError(errors, report);
  o.log.info({ ...countsOf(report) }, isEmptyReport(report) ? 'cleanup: nothing left to remove' : 'cleanup: removed');
  return report;
}

const countsOf = (r: CleanupReport): Record<string, number> =>
  Object.fromEntries(Object.entries(r).map(([k, v]: [string, readonly unknown[]]) => [k, v.length]));
