// iptables' language: `iptables-save` text and the `iptables-restore --noflush` payloads (one
// per family; src/apply/iptables.ts runs the tools). The payload declares only kube-ipvs' chains (`:CHAIN - [0:0]` flushes exactly those), so
// other software's rules in the same tables are never touched. Same text for the nft and
// legacy backends and for ip6tables.
import type { Family } from '../compute/net/ip.ts';
import { jumpRuleText, type IptablesState, type JumpRule, type TableName } from '../compute/model/iptables.ts';

// Rules as `iptables-save` prints them; also valid `iptables-restore --noflush` input, which
// flushes and rewrites exactly the chains declared (`:CHAIN - [0:0]`) and no other.
export function formatTable(state: IptablesState, table: TableName, withJumps: boolean): string[] {
  const t = state[table];
  return [
    `*${table}`,
    ...t.chains.map((c) => `:${c} - [0:0]`),
    ...(withJumps ? state.jumps.filter((j) => j.table === table).map(jumpRuleText) : []),
    ...t.rules,
    'COMMIT',
  ];
}

/** Both tables (nat first, as kube-proxy writes them) with the jumps from built-in chains. */
export function formatIptablesSave(state: IptablesState): string {
  return `${[...formatTable(state, 'nat', true), ...formatTable(state, 'filter', true)].join('\n')}\n`;
}

export interface SavedChain {
  /** `ACCEPT`/`DROP` for a built-in chain, `-` for a user chain. */
  readonly policy: string;
  /** `-A CHAIN …` lines, in order. */
  readonly rules: readonly string[];
}

/** Chains by name, in the order printed. */
export type SavedTable = ReadonlyMap<string, SavedChain>;

/** `iptables-save` (any backend, one table or all) → tables by name. */
export function parseIptablesSave(text: string): Map<string, SavedTable> {
  type Chains = Map<string, { policy: string; rules: string[] }>;
  const tables = new Map<string, Chains>();
  let table: Chains | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/^\[\d+:\d+\] /, ''); // `iptables-save -c` counters
    if (line.startsWith('*')) tables.set(line.slice(1).trim(), (table = new Map() as Chains));
    else if (line.startsWith(':')) {
      const [name = '', policy = '-'] = line.slice(1).split(' ');
      table?.set(name, { policy, rules: [] });
    } else if (line.startsWith('-A ')) {
      const chain = line.split(' ')[1] ?? '';
      table?.get(chain)?.rules.push(line);
    }
  }
  return tables;
}

/** A rule's words, double-quoted ones (comments) kept whole with their quotes. */
export const ruleWords = (rule: string): string[] => rule.match(/"(?:[^"\\]|\\.)*"|\S+/g) ?? [];

/** The chain a rule jumps (`-j`) or goes (`-g`) to. */
export function ruleTarget(rule: string): string | undefined {
  const w = ruleWords(rule);
  const i = w.findIndex((x) => x === '-j' || x === '-g');
  return i < 0 ? undefined : w[i + 1];
}

const deleteOf = (rule: string): string => `-D${rule.slice(2)}`;

/**
 * Lines that put each jump from a built-in chain exactly once: `-I CHAIN 1 …` for a missing
 * one (on top, as kube-proxy's EnsureRule(Prepend) does), `-D CHAIN …` for each duplicate.
 */
export function jumpFixes(observed: SavedTable | undefined, jumps: readonly JumpRule[]): string[] {
  const fixes: string[] = [];
  for (const j of jumps) {
    const text = jumpRuleText(j);
    const n = (observed?.get(j.from)?.rules ?? []).filter((r) => r === text).length;
    if (n === 0) fixes.push(`-I ${j.from} 1${text.slice(`-A ${j.from}`.length)}`);
    for (let k = 1; k < n; k++) fixes.push(deleteOf(text));
  }
  return fixes;
}

const TABLES: readonly TableName[] = ['nat', 'filter'];

/** The whole `iptables-restore --noflush` payload: kube-ipvs' chains rewritten, jumps repaired. */
export function formatRestore(state: IptablesState, observed: ReadonlyMap<string, SavedTable>): string {
  const lines = TABLES.flatMap((t) => {
    const body = formatTable(state, t, false);
    const fixes = jumpFixes(observed.get(t), state.jumps.filter((j) => j.table === t));
    return [...body.slice(0, -1), ...fixes, ...body.slice(-1)];
  });
  return `${lines.join('\n')}\n`;
}

/**
 * Removes the owned chains of every table: rules elsewhere that jump to them first (else
 * the chains cannot be deleted), then each chain flushed and deleted. '' when none is left.
 */
export function formatCleanup(observed: ReadonlyMap<string, SavedTable>, owned: (chain: string) => boolean): string {
  const lines: string[] = [];
  for (const [name, table] of observed) {
    const chains = [...table.keys()].filter(owned);
    const refs = [...table].filter(([c]) => !owned(c))
      .flatMap(([, c]) => c.rules.filter((r) => { const t = ruleTarget(r); return t !== undefined && owned(t); }));
    if (chains.length === 0 && refs.length === 0) continue;
    lines.push(`*${name}`, ...chains.map((c) => `:${c} - [0:0]`), ...refs.map(deleteOf), ...chains.map((c) => `-X ${c}`), 'COMMIT');
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

/** Which backend's binaries to use; undefined = the system's `iptables` alternative. */
export type Backend = 'nft' | 'legacy';

export const iptablesBinary = (family: Family, tool: 'save' | 'restore', backend?: Backend): string =>
  `${family === 4 ? 'iptables' : 'ip6tables'}${backend === undefined ? '' : `-${backend}`}-${tool}`;

export interface IptablesTarget {
  readonly family: Family;
  readonly backend?: Backend;
}
