// In-memory links and addresses driven through iproute2's `ip`, printing its one-line
// (`-o`) output and failing as `ip -batch` does (test/fixtures/tools/fail-ip-*.txt).
import { parseIp, type Ip } from '../../src/compute/net/ip.ts';
import { fail, inputLines, ok, text, type LineFault, type Outcome } from './tool.ts';

export interface FakeAddr { readonly ip: Ip; readonly prefix: number }

export interface FakeLink {
  index: number;
  type: string;
  /** By `ip/prefix`, in the order added (as the kernel lists them). A Map, not an array: an
   *  `ip -batch` of 62,500 adds (50,000 Services) searched an array per line, quadratic. */
  addrs: Map<string, FakeAddr>;
}

const addrKey = (a: FakeAddr): string => `${a.ip.text}/${a.prefix}`;

class IpError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number) {
    super(message);
    this.exitCode = exitCode;
  }
}

const NO_DEVICE = (d: string): IpError => new IpError(`Cannot find device "${d}"`, 1);

function parseAddr(s: string): FakeAddr {
  const [a = '', p] = s.split('/');
  const ip = parseIp(a);
  if (ip === undefined) throw new IpError(`Error: any valid prefix is expected rather than "${s}".`, 1);
  return { ip, prefix: p === undefined ? (ip.family === 4 ? 32 : 128) : Number(p) };
}

export class FakeIp {
  readonly links = new Map<string, FakeLink>();
  private nextIndex = 1;

  addLink(name: string, type: string, addrs: readonly string[] = []): void {
    this.links.set(name, { index: this.nextIndex++, type, addrs: new Map(addrs.map((s) => { const a = parseAddr(s); return [addrKey(a), a]; })) });
  }

  run(args: readonly string[], input: string | undefined, fault: LineFault): Outcome {
    const batch = args.indexOf('-batch');
    if (batch >= 0) return this.batch(inputLines(input), args.includes('-force'), fault);
    try {
      return ok(this.exec(args.filter((a) => a !== '-o')));
    } catch (e) {
      if (e instanceof IpError) return fail(`${e.message}\n`, e.exitCode);
      throw e;
    }
  }

  /** Stops at the first failing line unless -force; exit 1 either way on a failure. */
  private batch(lines: readonly string[], force: boolean, fault: LineFault): Outcome {
    const errors: string[] = [];
    let out = '';
    for (const [i, line] of lines.entries()) {
      const words = line.trim().split(/\s+/).filter((w) => w !== '');
      if (words.length === 0) continue;
      try {
        const injected = fault(line);
        if (injected !== undefined) throw new IpError(injected, 2);
        out += this.exec(words);
      } catch (e) {
        if (!(e instanceof IpError)) throw e;
        errors.push(e.message, `Command failed -:${i + 1}`);
        if (!force) break;
      }
    }
    return errors.length === 0 ? ok(out) : fail(text(errors), 1, out);
  }

  private link(name: string | undefined): FakeLink {
    const l = name === undefined ? undefined : this.links.get(name);
    if (l === undefined) throw NO_DEVICE(name ?? '');
    return l;
  }

  private exec(words: readonly string[]): string {
    const [obj, cmd = 'show', ...rest] = words;
    // `addr add A dev D`, `link del D`
    const dev = rest.includes('dev') ? rest[rest.indexOf('dev') + 1] : rest[0];
    if (obj === 'link' && cmd === 'add') {
      const name = rest[0] ?? '';
      if (this.links.has(name)) throw new IpError('RTNETLINK answers: File exists', 2);
      this.addLink(name, rest[rest.indexOf('type') + 1] ?? 'dummy');
      return '';
    }
    if (obj === 'link' && (cmd === 'del' || cmd === 'delete')) { this.link(dev); this.links.delete(dev ?? ''); return ''; }
    if (obj === 'link' && cmd === 'show') return text(this.shown(rest).map(([n, l]) => linkLine(n, l)));
    if ((obj === 'addr' || obj === 'address') && (cmd === 'add' || cmd === 'del')) {
      const l = this.link(dev);
      const a = parseAddr(rest[0] ?? '');
      const k = addrKey(a);
      const has = l.addrs.has(k);
      if (cmd === 'add' && has) throw new IpError('RTNETLINK answers: File exists', 2);
      if (cmd === 'del' && !has) throw new IpError('RTNETLINK answers: Cannot assign requested address', 2);
      if (cmd === 'add') l.addrs.set(k, a); else l.addrs.delete(k);
      return '';
    }
    if ((obj === 'addr' || obj === 'address') && cmd === 'show') {
      return text(this.shown(rest).flatMap(([n, l]) => [...l.addrs.values()].map((a) => addrLine(n, l, a))));
    }
    throw new IpError(`Command "${words.join(' ')}" is unknown, try "ip help".`, 1);
  }

  private shown(rest: readonly string[]): [string, FakeLink][] {
    const i = rest.indexOf('dev');
    if (i < 0) return [...this.links];
    const name = rest[i + 1] ?? '';
    const l = this.links.get(name);
    if (l === undefined) throw new IpError(`Device "${name}" does not exist.`, 1);
    return [[name, l]];
  }
}

function scope(ip: Ip): string {
  if (ip.family === 4) return ip.value >> 24n === 127n ? 'host' : 'global';
  if (ip.value === 1n) return 'host';
  return ip.value >> 118n === 0x3fan ? 'link' : 'global';
}

const addrLine = (name: string, l: FakeLink, a: FakeAddr): string =>
  `${l.index}: ${name}    ${a.ip.family === 4 ? 'inet' : 'inet6'} ${a.ip.text}/${a.prefix} scope ${scope(a.ip)} ${a.ip.family === 4 ? name : ''}\\       valid_lft forever preferred_lft forever`;

function linkLine(name: string, l: FakeLink): string {
  if (l.type === 'loopback') return `${l.index}: ${name}: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00`;
  const mac = `02:00:00:00:00:${l.index.toString(16).padStart(2, '0')}`;
  const flags = l.type === 'dummy' ? '<BROADCAST,NOARP> mtu 1500 qdisc noop state DOWN' : '<BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc fq_codel state UP';
  return `${l.index}: ${name}: ${flags} mode DEFAULT group default qlen 1000\\    link/ether ${mac} brd ff:ff:ff:ff:ff:ff`;
}
