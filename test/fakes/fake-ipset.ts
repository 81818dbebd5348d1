// In-memory ipsets driven through ipset's command line and `ipset restore`, failing as ipset
// 7.17 does (test/fixtures/tools/fail-ipset-*.txt): restore stops at the first error.
import { parseIp } from '../../src/compute/net/ip.ts';
import { fail, inputLines, ok, text, type LineFault, type Outcome } from './tool.ts';

export interface FakeSet {
  type: string;
  /** family/hashsize/maxelem for hash sets, range for bitmaps. */
  options: Map<string, string>;
  entries: Set<string>;
  /** Random per set in the kernel; printed by `save`, never meaningful. */
  initval: string;
}

class SetError extends Error {}

const MSG = {
  missing: 'The set with the given name does not exist',
  exists: 'Set cannot be created: set with the same name already exists',
  dupAdd: "Element cannot be added to the set: it's already added",
  noDel: "Element cannot be deleted from the set: it's not added",
  inUse: 'Set cannot be destroyed: it is in use by a kernel component',
  swapType: 'The sets cannot be swapped: their type does not match',
  full: 'Hash is full, cannot add more elements',
};

/** An element as the kernel stores and prints it; throws on one the set type rejects. */
function canonEntry(type: string, entry: string): string {
  const kinds = type.split(':')[1]?.split(',') ?? [];
  const parts = entry.split(',');
  if (parts.length !== kinds.length) throw new SetError(`Syntax error: wrong element ${entry}`);
  return parts.map((p, i) => {
    const kind = kinds[i];
    if (kind === 'port') {
      const m = /^(?:(tcp|udp|sctp):)?(\d{1,5})$/i.exec(p);
      if (m?.[2] === undefined) throw new SetError(`Syntax error: cannot parse ${p} as a port`);
      return type.startsWith('bitmap') ? m[2] : `${(m[1] ?? 'tcp').toLowerCase()}:${m[2]}`;
    }
    const [addr = '', prefix] = p.split('/');
    const ip = parseIp(addr);
    if (ip === undefined) throw new SetError(`Syntax error: cannot parse ${p}: resolving to IPv4 address failed`);
    if (kind === 'ip' || prefix === undefined || Number(prefix) === (ip.family === 4 ? 32 : 128)) return ip.text;
    return `${ip.text}/${prefix}`;
  }).join(',');
}

export class FakeIpset {
  readonly sets = new Map<string, FakeSet>();
  private seq = 0;
  private readonly inUse: (name: string) => boolean;

  /** `inUse(name)`: whether an iptables rule refers to the set (destroy then fails). */
  constructor(inUse: (name: string) => boolean) {
    this.inUse = inUse;
  }

  run(args: readonly string[], input: string | undefined, fault: LineFault): Outcome {
    const exist = args.includes('-exist') || args.includes('-!');
    const words = args.filter((a) => a !== '-exist' && a !== '-!');
    if (words[0] === 'restore') return this.restore(inputLines(input), exist, fault);
    try {
      return ok(this.exec(words, exist));
    } catch (e) {
      if (e instanceof SetError) return fail(`ipset v7.17: ${e.message}\n`);
      throw e;
    }
  }

  private restore(lines: readonly string[], exist: boolean, fault: LineFault): Outcome {
    for (const [i, line] of lines.entries()) {
      const words = line.trim().split(/\s+/).filter((w) => w !== '');
      if (words.length === 0 || line.startsWith('#')) continue;
      try {
        const injected = fault(line);
        if (injected !== undefined) throw new SetError(injected);
        this.exec(words, exist);
      } catch (e) {
        if (e instanceof SetError) return fail(`ipset v7.17: Error in line ${i + 1}: ${e.message}\n`);
        throw e;
      }
    }
    return ok();
  }

  private get(name: string | undefined): FakeSet {
    const s = name === undefined ? undefined : this.sets.get(name);
    if (s === undefined) throw new SetError(MSG.missing);
    return s;
  }

  private exec(words: readonly string[], exist: boolean): string {
    const [cmd = '', name, ...rest] = words;
    switch (cmd) {
      case 'create': return this.create(name ?? '', rest, exist);
      case 'add': case 'del': {
        const s = this.get(name);
        const e = canonEntry(s.type, rest[0] ?? '');
        if (cmd === 'add' && s.entries.has(e) && !exist) throw new SetError(MSG.dupAdd);
        // The kernel refuses a new element once a hash set holds maxelem (IPSET_ERR_HASH_FULL).
        if (cmd === 'add' && !s.entries.has(e) && s.entries.size >= Number(s.options.get('maxelem') ?? Infinity)) throw new SetError(MSG.full);
        if (cmd === 'del' && !s.entries.has(e) && !exist) throw new SetError(MSG.noDel);
        if (cmd === 'add') s.entries.add(e); else s.entries.delete(e);
        return '';
      }
      case 'flush': for (const s of name === undefined ? this.sets.values() : [this.get(name)]) s.entries.clear(); return '';
      case 'destroy': {
        const names = name === undefined ? [...this.sets.keys()] : [name];
        for (const n of names) { this.get(n); if (this.inUse(n)) throw new SetError(MSG.inUse); }
        for (const n of names) this.sets.delete(n);
        return '';
      }
      case 'swap': {
        const a = this.get(name);
        const b = this.get(rest[0]);
        if (a.type !== b.type || a.options.get('family') !== b.options.get('family')) throw new SetError(MSG.swapType);
        this.sets.set(name ?? '', b);
        this.sets.set(rest[0] ?? '', a);
        return '';
      }
      case 'list': return words.includes('-n') ? text([...this.sets.keys()]) : this.save(name);
      case 'save': return this.save(name);
      default: throw new SetError(`Command \`${cmd}' is invalid`);
    }
  }

  private create(name: string, rest: readonly string[], exist: boolean): string {
    const [type = '', ...opts] = rest;
    if (!/^(hash|bitmap):/.test(type)) throw new SetError(`Syntax error: typename '${type}' is unknown`);
    const options = new Map<string, string>(type.startsWith('bitmap')
      ? [['range', '0-65535']]
      : [['family', 'inet'], ['hashsize', '1024'], ['maxelem', '65536']]);
    let initval: string | undefined;
    for (let i = 0; i + 1 < opts.length; i += 2) {
      const [k = '', v = ''] = [opts[i], opts[i + 1]];
      // What `save` printed restores as it was; bucketsize is fixed in this fake.
      if (k === 'initval') initval = v;
      else if (k !== 'bucketsize') options.set(k, v);
    }
    const old = this.sets.get(name);
    if (old !== undefined) {
      // The kernel's same_set(): type and every create parameter must match, even under -exist.
      const same = old.type === type && [...options].every(([k, v]) => old.options.get(k) === v);
      if (!exist || !same) throw new SetError(MSG.exists);
      return '';
    }
    this.seq++;
    this.sets.set(name, { type, options, entries: new Set(), initval: initval ?? `0x${((this.seq * 0x9e3779b1) >>> 0).toString(16).padStart(8, '0')}` });
    return '';
  }

  private save(name: string | undefined): string {
    return text([...this.saveLines(name)]);
  }

  /** `ipset save`'s lines one at a time, over the live sets (bench/kernel-server.ts serves it in chunks). */
  *saveLines(name?: string): Generator<string> {
    for (const [n, s] of name === undefined ? this.sets : [[name, this.get(name)] as const]) {
      const opts = [...s.options].map(([k, v]) => `${k} ${v}`).join(' ');
      yield `create ${n} ${s.type} ${opts}${s.type.startsWith('hash') ? ` bucketsize 12 initval ${s.initval}` : ''}`;
      for (const e of s.entries) yield `add ${n} ${e}`;
    }
  }
}
