// In-memory nftables driven through `nft -f -` scripts and `nft -j list`, failing as nft 1.0.6
// does (test/fixtures/nft/failures.txt): a script is one transaction — the first failing line
// fails it all and nothing of it applies. Knows the statements kube-ipvs writes (tools/nft.ts)
// and lists tables as `nft -j` prints them (test/fixtures/nft/list-examples.json), rules with
// their comment but without their expression tree (kube-ipvs reads only the comment).
import { parseIp } from '../../src/compute/net/ip.ts';
import { fail, inputLines, ok, type LineFault, type Outcome } from './tool.ts';

interface FakeNftSet { type: string[]; interval: boolean; elements: Set<string> }
interface FakeNftChain { base?: { type: string; hook: string; prio: number }; rules: { text: string; comment: string }[] }
export interface FakeNftTable { sets: Map<string, FakeNftSet>; chains: Map<string, FakeNftChain> }

class NftLineError extends Error {
  readonly processing: boolean;
  constructor(message: string, processing = true) { super(message); this.processing = processing; }
}

const META = { metainfo: { version: '1.0.6', release_name: 'Lester Gooch #5', json_schema_version: 1 } };
const PROTO: Readonly<Record<string, string>> = { tcp: 'tcp', udp: 'udp', sctp: 'sctp', '6': 'tcp', '17': 'udp', '132': 'sctp' };

/** One element part as `nft -j` prints it: ports as numbers, CIDRs as prefixes. */
function jsonPart(p: string, type: string | undefined): unknown {
  if (type === 'inet_service') return Number(p);
  if (type === 'inet_proto') return PROTO[p] ?? p;
  const [addr = '', len] = p.split('/');
  return len === undefined ? addr : { prefix: { addr, len: Number(len) } };
}

function checkElement(e: string, set: FakeNftSet): string {
  const parts = e.split(' . ');
  if (parts.length !== set.type.length) throw new NftLineError('syntax error, element does not match the set type', false);
  return parts.map((p, i) => {
    const t = set.type[i];
    if (t === 'inet_service' && !/^\d{1,5}$/.test(p)) throw new NftLineError(`Could not parse port ${p}`, false);
    if (t === 'inet_proto' && PROTO[p] === undefined) throw new NftLineError(`Could not parse protocol ${p}`, false);
    if (t === 'ipv4_addr' || t === 'ipv6_addr') {
      const [addr = '', len] = p.split('/');
      const ip = parseIp(addr);
      if (ip === undefined || (ip.family === 4) !== (t === 'ipv4_addr')) throw new NftLineError(`Could not resolve hostname: ${p}`, false);
      if (len !== undefined && !set.interval) throw new NftLineError('You must add \'flags interval\' to your set', false);
      return len === undefined || Number(len) === (ip.family === 4 ? 32 : 128) ? ip.text : `${ip.text}/${len}`;
    }
    return t === 'inet_proto' ? (PROTO[p] ?? p) : p;
  }).join(' . ');
}

const elementsOf = (body: string): string[] => body.split(',').map((x) => x.trim()).filter((x) => x !== '');

export class FakeNft {
  readonly tables = new Map<string, FakeNftTable>();

  run(args: readonly string[], input: string | undefined, fault: LineFault): Outcome {
    const a = args.filter((x) => x !== '-j');
    if (a[0] === 'list' && a[1] === 'tables') return ok(this.listTables());
    if (a[0] === 'list' && a[1] === 'table' && a[2] === 'inet') {
      const name = a[3] ?? '';
      if (!this.tables.has(name)) return fail(`Error: No such file or directory\nlist table inet ${name}\n`);
      return ok(this.listTable(name));
    }
    if (a[0] === '-f' && a[1] === '-') return this.apply(input, fault);
    return fail(`fake nft: unsupported arguments ${args.join(' ')}\n`);
  }

  /** A transaction: applied to a copy, which replaces the state only if every line succeeds. */
  private apply(input: string | undefined, fault: LineFault): Outcome {
    const next = new Map([...this.tables].map(([k, t]) => [k, {
      sets: new Map([...t.sets].map(([n, s]) => [n, { ...s, elements: new Set(s.elements) }])),
      chains: new Map([...t.chains].map(([n, c]) => [n, { ...c, rules: [...c.rules] }])),
    }]));
    const lines = inputLines(input);
    for (const [i, line] of lines.entries()) {
      try {
        const injected = fault(line);
        if (injected !== undefined) throw new NftLineError(injected);
        this.statement(next, line);
      } catch (e) {
        if (!(e instanceof NftLineError)) throw e;
        return fail(`/dev/stdin:${i + 1}:1-1: Error: ${e.processing ? 'Could not process rule: ' : ''}${e.message}\n${line}\n`);
      }
    }
    this.tables.clear();
    for (const [k, v] of next) this.tables.set(k, v);
    return ok();
  }

  private statement(tables: Map<string, FakeNftTable>, line: string): void {
    const m = /^(add|delete|flush) (table|set|chain|element|rule) inet (\S+)(?: (\S+))?(?: (.*))?$/.exec(line.trim());
    if (m === null) throw new NftLineError(`syntax error: ${line}`, false);
    const [, verb, what, tname = '', obj = '', rest = ''] = m;
    if (what === 'table') {
      if (verb === 'add') { if (!tables.has(tname)) tables.set(tname, { sets: new Map(), chains: new Map() }); return; }
      if (verb === 'delete') { if (!tables.delete(tname)) throw new NftLineError('No such file or directory'); return; }
    }
    const t = tables.get(tname);
    if (t === undefined) throw new NftLineError('No such file or directory', false);
    switch (`${verb} ${what}`) {
      case 'add set': {
        const body = /\{ type ([^;]+);( flags interval;)? \}/.exec(rest);
        if (body === null) throw new NftLineError(`syntax error: ${line}`, false);
        const type = (body[1] ?? '').split(' . ');
        const cur = t.sets.get(obj);
        if (cur !== undefined && (cur.type.join() !== type.join() || cur.interval !== (body[2] !== undefined))) throw new NftLineError('File exists');
        if (cur === undefined) t.sets.set(obj, { type, interval: body[2] !== undefined, elements: new Set() });
        return;
      }
      case 'add chain': {
        const b = /type (\w+) hook (\w+) priority (-?\d+);/.exec(rest);
        const base = b === null ? undefined : { type: b[1] ?? '', hook: b[2] ?? '', prio: Number(b[3]) };
        const cur = t.chains.get(obj);
        if (cur === undefined) t.chains.set(obj, { ...(base === undefined ? {} : { base }), rules: [] });
        else if (JSON.stringify(cur.base) !== JSON.stringify(base)) throw new NftLineError('File exists');
        return;
      }
      case 'flush chain': {
        const c = t.chains.get(obj);
        if (c === undefined) throw new NftLineError('No such file or directory');
        c.rules = [];
        return;
      }
      case 'add rule': {
        const c = t.chains.get(obj);
        if (c === undefined) throw new NftLineError('No such file or directory');
        const r = /^(.*?)(?: comment "([^"]*)")?$/.exec(rest);
        for (const ref of (r?.[1] ?? '').matchAll(/@([\w-]+)/g)) if (!t.sets.has(ref[1] ?? '')) throw new NftLineError(`Set '${ref[1] ?? ''}' does not exist`, false);
        for (const j of (r?.[1] ?? '').matchAll(/\bjump ([\w-]+)/g)) if (!t.chains.has(j[1] ?? '')) throw new NftLineError('No such file or directory');
        c.rules.push({ text: r?.[1] ?? '', comment: r?.[2] ?? '' });
        return;
      }
      case 'add element':
      case 'delete element': {
        const s = t.sets.get(obj);
        if (s === undefined) throw new NftLineError('No such file or directory', false);
        const body = /^\{ (.*) \}$/.exec(rest)?.[1] ?? '';
        for (const raw of elementsOf(body)) {
          const e = checkElement(raw, s);
          if (verb === 'add') s.elements.add(e);
          else if (!s.elements.delete(e)) throw new NftLineError('No such file or directory');
        }
        return;
      }
      default: throw new NftLineError(`fake nft: unsupported statement ${line}`, false);
    }
  }

  private listTables(): string {
    return JSON.stringify({ nftables: [META, ...[...this.tables.keys()].map((name, i) => ({ table: { family: 'inet', name, handle: i + 1 } }))] });
  }

  private listTable(name: string): string {
    const t = this.tables.get(name);
    const out: unknown[] = [META, { table: { family: 'inet', name, handle: 1 } }];
    let handle = 1;
    for (const [sname, s] of t?.sets ?? []) {
      const elem = [...s.elements].map((e) => {
        const parts = e.split(' . ').map((p, i) => jsonPart(p, s.type[i]));
        return parts.length === 1 ? parts[0] : { concat: parts };
      });
      out.push({ set: { family: 'inet', name: sname, table: name, type: s.type.length === 1 ? s.type[0] : s.type, handle: handle++, ...(s.interval ? { flags: ['interval'] } : {}), ...(elem.length === 0 ? {} : { elem }) } });
    }
    for (const [cname, c] of t?.chains ?? []) {
      out.push({ chain: { family: 'inet', table: name, name: cname, handle: handle++, ...(c.base === undefined ? {} : { type: c.base.type, hook: c.base.hook, prio: c.base.prio, policy: 'accept' }) } });
    }
    for (const [cname, c] of t?.chains ?? []) {
      for (const r of c.rules) out.push({ rule: { family: 'inet', table: name, chain: cname, handle: handle++, ...(r.comment === '' ? {} : { comment: r.comment }), expr: [] } });
    }
    return JSON.stringify({ nftables: out });
  }
}
