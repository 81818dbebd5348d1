// An in-memory IPVS table driven through ipvsadm's command line, printing what ipvsadm
// 1.31 prints (test/fixtures/tools/ipvsadm-*.txt were captured from it). Deliberately not
// built on src/apply/ipvsadm.ts, so a parser bug cannot hide behind the same bug here.
import { hostPort, parseIp, type Ip } from '../../src/compute/net/ip.ts';
import { fail, inputLines, ok, text, type LineFault, type Outcome } from './tool.ts';
import { ipvsList, ipvsSave } from './fake-ipvs-print.ts';

export type FakeProto = 'TCP' | 'UDP' | 'SCTP' | 'FWM';
export type FakeForward = 'm' | 'g' | 'i';

export interface FakeCounters { conns: number; inPkts: number; outPkts: number; inBytes: number; outBytes: number }
const zero = (): FakeCounters => ({ conns: 0, inPkts: 0, outPkts: 0, inBytes: 0, outBytes: 0 });

export interface FakeRealServer {
  ip: Ip;
  port: number;
  weight: number;
  forward: FakeForward;
  activeConns: number;
  inactiveConns: number;
  stats: FakeCounters;
}

export interface FakeService {
  proto: FakeProto;
  /** `10.96.0.10:80`, `[fd00::a]:80`, or the mark for FWM. */
  addr: string;
  scheduler: string;
  /** IP_VS_SVC_F_SCHED1..3 as bits 1, 2, 4. */
  flagBits: number;
  persistence: number | undefined;
  netmask: string | undefined;
  onePacket: boolean;
  reals: Map<string, FakeRealServer>;
  stats: FakeCounters;
}

const SCHEDULERS = new Set(['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh', 'twos']);
const FLAG_BITS: Readonly<Record<string, number>> = {
  'flag-1': 1, 'sh-fallback': 1, 'mh-fallback': 1, 'flag-2': 2, 'sh-port': 2, 'mh-port': 2, 'flag-3': 4,
};
const PROTO_OPTS: Readonly<Record<string, FakeProto>> = { '-t': 'TCP', '-u': 'UDP', '--sctp-service': 'SCTP', '-f': 'FWM' };

const OPS = ['-A', '-E', '-D', '-a', '-e', '-d', '-C'] as const;
type Op = (typeof OPS)[number];
const isOp = (w: string): w is Op => (OPS as readonly string[]).includes(w);

interface Cmd {
  op: Op;
  proto?: FakeProto;
  addr?: string;
  opts: Map<string, string>;
}

class ParseError extends Error {}

function canonAddr(s: string, what: 'virtual server' | 'server', allowNoPort: boolean): string {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d+))?$/.exec(s);
  const ip = parseIp(m?.[1] ?? m?.[2] ?? '');
  const port = m?.[3] === undefined ? (allowNoPort ? 0 : -1) : Number(m[3]);
  if (ip === undefined || port < 0 || port > 65535) throw new ParseError(`illegal ${what} address[:port] specified`);
  return hostPort(ip, port);
}

function parseCmd(words: readonly string[]): Cmd {
  const [op = '', ...rest] = words;
  if (!isOp(op)) throw new ParseError(`Illegal option: ${op}`);
  const cmd: Cmd = { op, opts: new Map() };
  for (let i = 0; i < rest.length; i++) {
    const w = rest[i] ?? '';
    const next = rest[i + 1];
    const proto = PROTO_OPTS[w];
    if (proto !== undefined && next !== undefined) {
      cmd.proto = proto;
      cmd.addr = proto === 'FWM' ? (/^\d+$/.test(next) ? next : '') : canonAddr(next, 'virtual server', false);
      if (cmd.addr === '') throw new ParseError('illegal virtual server address[:port] specified');
      i++;
    } else if (['-m', '-g', '-i', '-o', '-n', '-6'].includes(w)) cmd.opts.set(w, '');
    else if (w === '-p') {
      // -p takes an optional timeout; 300 s when none follows.
      if (next !== undefined && /^\d+$/.test(next)) { cmd.opts.set(w, next); i++; } else cmd.opts.set(w, '300');
    } else if (['-s', '-M', '-b', '-r', '-w', '--tun-type', '--pe'].includes(w) && next !== undefined) {
      cmd.opts.set(w, w === '-r' ? canonAddr(next, 'server', true) : next);
      i++;
    } else throw new ParseError(`Illegal option: ${w}`);
  }
  return cmd;
}

export class FakeIpvs {
  readonly services = new Map<string, FakeService>();
  timeouts = { tcp: 900, tcpfin: 120, udp: 300 };

  /** `ipvsadm ARGS…` with stdin `input`. */
  run(argv: readonly string[], input: string | undefined, fault: LineFault): Outcome {
    // Bundled short options, as getopt reads them: -Sn = -S -n.
    const args = argv.flatMap((a) => (/^-[A-Za-z]{2,}$/.test(a) ? a.slice(1).split('').map((c) => `-${c}`) : [a]));
    const has = (...o: string[]): boolean => o.some((x) => args.includes(x));
    if (has('-S', '--save')) return ok(ipvsSave(this));
    if (has('-L', '-l', '--list')) {
      if (has('--timeout')) return ok(`Timeout (tcp tcpfin udp): ${this.timeouts.tcp} ${this.timeouts.tcpfin} ${this.timeouts.udp}\n`);
      const at = args.findIndex((a) => PROTO_OPTS[a] !== undefined && a !== '-f');
      if (at < 0) return ok(ipvsList(this, has('--stats')));
      const key = `${PROTO_OPTS[args[at] ?? ''] ?? ''} ${canonAddr(args[at + 1] ?? '', 'virtual server', false)}`;
      return this.services.has(key) ? ok(ipvsList(this, has('--stats'), key)) : fail('No such service\n', 1);
    }
    if (has('-R', '--restore')) return this.restore(inputLines(input), fault);
    if (has('--set')) {
      const [tcp, tcpfin, udp] = args.slice(args.indexOf('--set') + 1).map(Number);
      if (tcp === undefined || tcpfin === undefined || udp === undefined) return fail('ipvsadm: --set needs three values\n', 2);
      // 0 leaves a timeout as it is.
      this.timeouts = { tcp: tcp || this.timeouts.tcp, tcpfin: tcpfin || this.timeouts.tcpfin, udp: udp || this.timeouts.udp };
      return ok();
    }
    return this.restore([args.join(' ')], fault);
  }

  /** Line by line like ipvsadm -R: kernel errors print and continue; the exit code is the last line's. */
  private restore(lines: readonly string[], fault: LineFault): Outcome {
    const errors: string[] = [];
    let exitCode = 0;
    for (const line of lines) {
      const words = line.trim().split(/\s+/).filter((w) => w !== '');
      if (words.length === 0) continue;
      let cmd: Cmd;
      try { cmd = parseCmd(words); } catch (e) {
        if (!(e instanceof ParseError)) throw e;
        return fail(text([...errors, e.message]), 2);
      }
      const err = fault(line) ?? this.apply(cmd);
      if (err !== undefined) errors.push(err);
      exitCode = err === undefined ? 0 : 255;
    }
    return { stdout: '', stderr: text(errors), exitCode };
  }

  private apply(c: Cmd): string | undefined {
    if (c.op === '-C') { this.services.clear(); return undefined; }
    if (c.proto === undefined || c.addr === undefined) return 'ipvsadm: no service specified';
    const key = `${c.proto} ${c.addr}`;
    const svc = this.services.get(key);
    const o = c.opts;
    if (c.op === '-D') return this.services.delete(key) ? undefined : 'No such service';
    if (c.op === '-A' || c.op === '-E') {
      if (c.op === '-A' && svc !== undefined) return 'Service already exists';
      if (c.op === '-E' && svc === undefined) return 'No such service';
      const scheduler = o.get('-s') ?? 'wlc';
      if (!SCHEDULERS.has(scheduler)) return 'Scheduler or persistence engine not found';
      const flagBits = (o.get('-b') ?? '').split(',').filter((f) => f !== '').reduce((b, f) => b | (FLAG_BITS[f] ?? 0), 0);
      const netmask = o.get('-M');
      this.services.set(key, {
        proto: c.proto, addr: c.addr, scheduler, flagBits, persistence: o.has('-p') ? Number(o.get('-p')) : undefined,
        netmask: netmask === '255.255.255.255' ? undefined : netmask, onePacket: o.has('-o'),
        reals: svc?.reals ?? new Map<string, FakeRealServer>(), stats: svc?.stats ?? zero(),
      });
      return undefined;
    }
    if (svc === undefined) return 'Service not defined';
    const r = o.get('-r');
    if (r === undefined) return 'ipvsadm: no destination specified';
    const rs = svc.reals.get(r);
    switch (c.op) {
      case '-a': case '-e': {
        if (c.op === '-a' && rs !== undefined) return 'Destination already exists';
        if (c.op === '-e' && rs === undefined) return 'No such destination';
        const m = /^\[?(.+?)\]?:(\d+)$/.exec(r);
        const ip = parseIp(m?.[1] ?? '');
        if (ip === undefined) return 'ipvsadm: bad destination';
        const forward: FakeForward = o.has('-m') ? 'm' : o.has('-i') ? 'i' : o.has('-g') ? 'g' : (rs?.forward ?? 'g');
        svc.reals.set(r, {
          ip, port: Number(m?.[2]), weight: Number(o.get('-w') ?? rs?.weight ?? 1), forward,
          activeConns: rs?.activeConns ?? 0, inactiveConns: rs?.inactiveConns ?? 0, stats: rs?.stats ?? zero(),
        });
        return undefined;
      }
      case '-d':
        return svc.reals.delete(r) ? undefined : 'No such destination';
    }
  }
}
