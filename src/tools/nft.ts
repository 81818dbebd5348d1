// The nft language as kube-ipvs uses it: one table of typed sets and chains, written as an
// `nft -f` script (one script = one kernel transaction) and read back from
// `nft -j list table …`. Pure: no processes here.

export type NftDataType = 'ipv4_addr' | 'ipv6_addr' | 'inet_proto' | 'inet_service';

export interface NftSet {
  readonly name: string;
  /** One type, or a concatenation (`ipv4_addr . inet_proto . inet_service`). */
  readonly type: readonly NftDataType[];
  /** `flags interval`: elements may hold CIDRs. */
  readonly interval: boolean;
  /** Elements in canonical text (`10.0.0.1 . tcp . 80`, `… . 10.0.0.0/8`). */
  readonly elements: readonly string[];
}

export type NftHook = 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting';

export interface NftBaseChain {
  readonly type: 'nat' | 'filter';
  readonly hook: NftHook;
  readonly priority: number;
}

export interface NftChain {
  readonly name: string;
  /** Present for chains attached to a netfilter hook. */
  readonly base?: NftBaseChain;
  /** Rule bodies in nft syntax, in order, without comment. */
  readonly rules: readonly string[];
}

export interface NftTable {
  readonly family: 'inet';
  readonly name: string;
  readonly sets: readonly NftSet[];
  readonly chains: readonly NftChain[];
}

/** A table as read back: rules are known by the fingerprint comment each one carries. */
export interface ObservedNftTable {
  readonly name: string;
  readonly sets: ReadonlyMap<string, { readonly type: readonly string[]; readonly interval: boolean; readonly elements: ReadonlySet<string> }>;
  readonly chains: ReadonlyMap<string, { readonly base?: NftBaseChain; readonly fingerprints: readonly string[] }>;
}

// A 32-bit FNV-1a of the rule text, as the rule's comment: `nft -j` prints rules as an
// expression tree, and comparing that with our text would need a second nft grammar. The
// comment says which rule text a kernel rule was made from; drift that keeps the comment
// but edits the rule is not detected.
export function ruleFingerprint(rule: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < rule.length; i++) {
    h ^= rule.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return `kube-ipvs:${h.toString(16).padStart(8, '0')}`;
}

const ELEMENTS_PER_LINE = 500;

function chunks<T>(xs: readonly T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

const ruleLine = (t: string, chain: string, rule: string): string =>
  `add rule inet ${t} ${chain} ${rule} comment "${ruleFingerprint(rule)}"`;

const baseLine = (b: NftBaseChain): string => `type ${b.type} hook ${b.hook} priority ${b.priority}; policy accept;`;

/** One operation of a transaction script. */
export type NftOp =
  | { readonly op: 'create-table'; readonly table: NftTable }
  | { readonly op: 'delete-table' }
  | { readonly op: 'add-elements'; readonly set: string; readonly elements: readonly string[] }
  | { readonly op: 'delete-elements'; readonly set: string; readonly elements: readonly string[] }
  | { readonly op: 'replace-chain'; readonly chain: NftChain };

/** `add` statements that build a whole table (the table must not hold these objects yet). */
function createLines(t: NftTable): string[] {
  const lines = [`add table inet ${t.name}`];
  for (const s of t.sets) {
    lines.push(`add set inet ${t.name} ${s.name} { type ${s.type.join(' . ')};${s.interval ? ' flags interval;' : ''} }`);
  }
  for (const c of t.chains) {
    lines.push(`add chain inet ${t.name} ${c.name}${c.base === undefined ? '' : ` { ${baseLine(c.base)} }`}`);
  }
  for (const s of t.sets) for (const part of chunks(s.elements, ELEMENTS_PER_LINE)) lines.push(`add element inet ${t.name} ${s.name} { ${part.join(', ')} }`);
  for (const c of t.chains) for (const r of c.rules) lines.push(ruleLine(t.name, c.name, r));
  return lines;
}

/** The `nft -f` script of `ops` on table `table`: applied as one transaction (all or nothing). */
export function formatNftScript(table: string, ops: readonly NftOp[]): string {
  const lines: string[] = [];
  for (const o of ops) {
    switch (o.op) {
      // `add table` first, so deleting a table that is absent is not an error.
      case 'delete-table': lines.push(`add table inet ${table}`, `delete table inet ${table}`); break;
      case 'create-table': lines.push(...createLines(o.table)); break;
      case 'add-elements':
        for (const part of chunks(o.elements, ELEMENTS_PER_LINE)) lines.push(`add element inet ${table} ${o.set} { ${part.join(', ')} }`);
        break;
      case 'delete-elements':
        for (const part of chunks(o.elements, ELEMENTS_PER_LINE)) lines.push(`delete element inet ${table} ${o.set} { ${part.join(', ')} }`);
        break;
      case 'replace-chain':
        lines.push(`add chain inet ${table} ${o.chain.name}${o.chain.base === undefined ? '' : ` { ${baseLine(o.chain.base)} }`}`, `flush chain inet ${table} ${o.chain.name}`);
        for (const r of o.chain.rules) lines.push(ruleLine(table, o.chain.name, r));
        break;
      default: { const never: never = o; throw new Error(`unknown nft op ${String(never)}`); }
    }
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

/** The table as `nft list table` would show it (for people: `plan --output nft`). */
export function formatNftTable(t: NftTable): string {
  const out = [`table inet ${t.name} {`];
  for (const s of t.sets) {
    out.push(`\tset ${s.name} {`, `\t\ttype ${s.type.join(' . ')}`);
    if (s.interval) out.push('\t\tflags interval');
    if (s.elements.length > 0) out.push(`\t\telements = { ${s.elements.join(',\n\t\t\t     ')} }`);
    out.push('\t}', '');
  }
  for (const c of t.chains) {
    out.push(`\tchain ${c.name} {`);
    if (c.base !== undefined) out.push(`\t\t${baseLine(c.base)}`);
    for (const r of c.rules) out.push(`\t\t${r}`);
    out.push('\t}', '');
  }
  if (out.at(-1) === '') out.pop();
  out.push('}');
  return `${out.join('\n')}\n`;
}

