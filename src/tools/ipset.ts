// ipset's language: sets as `ipset save` prints them and the `ipset restore -exist` scripts
// (one per sync: kube-proxy ran one `ipset add` per entry, #93445, #133773). Pure:
// src/apply/ipset.ts runs the tool.
import type { IpsetState } from '../compute/model/desired.ts';

export const createLine = (s: IpsetState): string => `create ${s.name} ${s.type} ${s.createOptions}`;

/** Sets as `ipset save` prints them (`create …` and `add SET ENTRY` lines); `ipset restore` reads it. */
export function formatIpsetSave(sets: readonly IpsetState[]): string {
  const lines: string[] = [];
  for (const s of sets) {
    lines.push(createLine(s));
    for (const e of s.entries) lines.push(`add ${s.name} ${e}`);
  }
  return `${lines.join('\n')}\n`;
}

export interface ObservedSet {
  readonly name: string;
  readonly type: string;
  /** `create` options by name; flags such as `counters` map to ''. */
  readonly options: ReadonlyMap<string, string>;
  /** Members as printed, in the kernel's (hash) order. */
  readonly members: ReadonlySet<string>;
}

// Options of `create` that take no value (ipset(8)); every other option takes one.
const FLAGS = new Set(['counters', 'comment', 'skbinfo', 'forceadd', 'nomatch']);

function parseOptions(tokens: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i] ?? '';
    if (FLAGS.has(t)) out.set(t, '');
    else { out.set(t, tokens[i + 1] ?? ''); i++; }
  }
  return out;
}

/** `ipset save` → sets by name, in the order printed. */
export function parseIpsetSave(text: string): Map<string, ObservedSet> {
  const sets = new Map<string, { name: string; type: string; options: Map<string, string>; members: Set<string> }>();
  for (const line of text.split('\n')) {
    const [cmd, name, arg, ...rest] = line.trim().split(/\s+/);
    if (name === undefined || arg === undefined) continue;
    if (cmd === 'create') sets.set(name, { name, type: arg, options: parseOptions(rest), members: new Set() });
    // Per-member options (timeout, comment…) are not used by kube-proxy's sets.
    else if (cmd === 'add') sets.get(name)?.members.add(arg);
  }
  return sets;
}

/**
 * One set's block of `ipset save` (its `create` line, then `add NAME MEMBER` lines) read off the
 * bytes against `members`: its `create` line parsed (`header`, no members) and whether its `add`
 * lines are `members` exactly, each once. No parsed set is built (KUBE-LOOP-BACK holds one entry
 * per endpoint); the same result as parseIpsetSave's members compared (tested). Undefined for a
 * block of any other shape (an empty line, per-member options, another set's lines), which is
 * then parsed whole.
 */
export function setBlockAgainst(block: Buffer, members: ReadonlySet<string>): { readonly header: ObservedSet; readonly same: boolean } | undefined {
  const nl = block.indexOf(NL);
  const header = [...parseIpsetSave(block.toString('utf8', 0, nl < 0 ? block.length : nl)).values()][0];
  if (nl < 0 || header === undefined || !block.toString('latin1', 0, 7).startsWith('create ')) return undefined;
  const prefix = Buffer.from(`add ${header.name} `);
  const seen = new Set<string>();
  let same = true;
  for (let pos = nl + 1; pos < block.length;) {
    const eol = block.indexOf(NL, pos);
    const end = eol < 0 ? block.length : eol;
    if (end - pos <= prefix.length || block.compare(prefix, 0, prefix.length, pos, pos + prefix.length) !== 0) return undefined;
    const member = block.toString('utf8', pos + prefix.length, end);
    if (member.includes(' ') || seen.has(member)) return undefined;
    seen.add(member);
    same &&= members.has(member);
    pos = end + 1;
  }
  return { header, same: same && seen.size === members.size };
}

const NL = 10;

/**
 * Whether an existing set is of the desired kind. Only type, family and range count: ipset 7.x
 * prints `bucketsize` and a random `initval`, the kernel grows `hashsize` as a set fills, and a
 * too small `maxelem` is fixed by growing the set (see `fits`), so those are not conflicts.
 */
export function sameDefinition(observed: Pick<ObservedSet, 'type' | 'options'>, desired: IpsetState): boolean {
  if (observed.type !== desired.type) return false;
  const want = parseOptions(desired.createOptions.split(' ').filter((t) => t !== ''));
  return ['family', 'range'].every((k) => observed.options.get(k) === want.get(k));
}

/**
 * Whether a set created with `options` can hold `members` entries: the kernel refuses adds
 * beyond maxelem ("Hash is full"), which is how kube-proxy's fixed 65,536 made new Services
 * silently fail on large clusters (kubernetes #129389). Bitmaps have no maxelem.
 */
export function fits(options: ReadonlyMap<string, string>, members: number): boolean {
  const max = options.get('maxelem');
  return max === undefined || members <= Number(max);
}

export interface SetDelta {
  readonly set: IpsetState;
  /** Create the set first (it is missing). */
  readonly create: boolean;
  readonly add: readonly string[];
  readonly del: readonly string[];
  /**
   * The set is too small for its new members: rewritten whole into a larger one (temporary
   * set, swap, destroy — in the same `ipset restore`), instead of the add/del lines.
   */
  readonly grow?: true;
}

/**
 * Member changes in place. Deletions first, so a member moving between sets never overflows.
 * A set that must grow is swapped for a larger copy in the same script.
 */
export function formatDeltaScript(deltas: readonly SetDelta[]): string {
  const lines: string[] = [];
  for (const d of deltas) {
    if (d.grow === true) { for (const l of swapLines(d.set, !d.create)) lines.push(l); continue; }
    if (d.create) lines.push(createLine(d.set));
    for (const e of d.del) lines.push(`del ${d.set.name} ${e}`);
    for (const e of d.add) lines.push(`add ${d.set.name} ${e}`);
  }
  if (lines.length === 0) return '';
  lines.push(''); // the final newline, without a rope around the whole script
  return lines.join('\n');
}

/**
 * The temporary set used to rewrite `name` whole. Derived from the name, so a script
 * interrupted half-way leaves a set the next run recognises (and flushes) rather than
 * a pile of new ones; it stays within ipset's 31-character limit.
 */
export function tempSetName(name: string): string {
  let h = 0x811c9dc5; // FNV-1a
  for (const c of name) h = Math.imul(h ^ (c.codePointAt(0) ?? 0), 0x01000193) >>> 0;
  return `KUBE-TMP-${h.toString(16).padStart(8, '0')}`;
}

/**
 * Whole-set rewrites: fill a temporary set, `swap` it in, destroy it. The set's members
 * change in one step, so no packet ever sees a half-filled set (kube-router's approach).
 */
export function formatSwapScript(sets: readonly IpsetState[], existing: ReadonlySet<string>): string {
  const lines = sets.flatMap((s) => swapLines(s, existing.has(s.name)));
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

function swapLines(s: IpsetState, exists: boolean): string[] {
  const tmp = tempSetName(s.name);
  return [
    // swap needs both sets; an existing one is not re-created, as its create options may
    // differ harmlessly (see sameDefinition) and -exist only forgives identical ones.
    ...(exists ? [] : [createLine(s)]),
    createLine({ ...s, name: tmp }),
    `flush ${tmp}`,
    ...s.entries.map((e) => `add ${tmp} ${e}`),
    `swap ${tmp} ${s.name}`,
    `destroy ${tmp}`,
  ];
}

/** Sets must be unreferenced by iptables rules before they can go. */
export const formatDestroyScript = (names: readonly string[]): string =>
  names.length === 0 ? '' : `${names.map((n) => `destroy ${n}`).join('\n')}\n`;
