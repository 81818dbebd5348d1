// A stateful in-memory kernel behind the Runner interface: it reads the same argv and batch
// text as ipvsadm, ipset, iptables(-nft|-legacy)(-save|-restore), ip, conntrack and nft, keeps
// the state they would change, prints what they would print, and fails the way they fail
// (DESIGN.md §6). Tests run a sync against it and assert the end state; they can also
// inject faults and change state behind the proxy's back (drift).
import { ToolError, toolName, type RunOptions, type RunResult, type Runner } from '../../src/apply/exec.ts';
import type { SysctlFs } from '../../src/apply/sysctl.ts';
import { FakeConntrack } from './fake-conntrack.ts';
import { FakeIp } from './fake-ip.ts';
import { FakeIpset } from './fake-ipset.ts';
import { FakeIptables, type FakeBackend } from './fake-iptables.ts';
import { FakeIpvs } from './fake-ipvs.ts';
import { FakeNft } from './fake-nft.ts';
import type { LineFault, Outcome } from './tool.ts';

export type Fault =
  | { readonly kind: 'missing' }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'exit'; readonly exitCode: number; readonly stderr: string };

interface LineFaultRule { tool: string; match: string | RegExp; message: string; remaining: number }

/** `iptables` stands for every iptables/ip6tables binary; any other name is exact. */
const toolMatches = (pattern: string, tool: string): boolean =>
  pattern === tool || (pattern === 'iptables' && /^ip6?tables/.test(tool));

const IPTABLES_BIN = /^(ip6?tables)(?:-(nft|legacy))?(?:-(save|restore))?$/;

/** As node:fs rejects: `code`, `syscall` and `path` set, the message in libuv's words. */
function fsError(code: string, text: string, name: string): NodeJS.ErrnoException {
  const path = `/proc/sys/${name}`;
  return Object.assign(new Error(`${code}: ${text}, open '${path}'`), { code, syscall: 'open', path });
}

export class FakeKernel implements Runner {
  readonly ipvs = new FakeIpvs();
  readonly ip = new FakeIp();
  readonly conntrack = new FakeConntrack();
  readonly nft = new FakeNft();
  readonly iptables: FakeIptables;
  readonly ipset: FakeIpset;
  /** What plain `iptables-save`/`iptables-restore` use (Debian's default is nft). */
  defaultBackend: FakeBackend = 'nft';
  /** /proc/sys, by name with slashes. */
  readonly proc = new Map<string, string>([
    ['kernel/osrelease', '6.1.0-26-amd64'], ['net/ipv4/ip_forward', '0'], ['net/ipv4/vs/conntrack', '0'],
    ['net/ipv4/vs/conn_reuse_mode', '1'], ['net/ipv4/vs/expire_nodest_conn', '0'],
    ['net/ipv4/vs/expire_quiescent_template', '0'], ['net/ipv4/conf/all/arp_ignore', '0'],
    ['net/ipv4/conf/all/arp_announce', '0'],
  ]);
  /** Calls per tool name (argv[0]'s basename), faulted ones included. */
  readonly calls = new Map<string, number>();
  private readonly faults: { tool: string; fault: Fault }[] = [];
  private readonly lineFaults: LineFaultRule[] = [];
  private readonly missing = new Set<string>();

  constructor() {
    this.ipset = new FakeIpset((name) => this.iptables.referencedSets().has(name));
    this.iptables = new FakeIptables((name) => this.ipset.sets.has(name));
    this.ip.addLink('lo', 'loopback', ['127.0.0.1/8', '::1/128']);
    this.ip.addLink('eth0', 'ether', ['192.168.1.10/24', 'fe80::1/64']);
  }

  /** Sysctls that refuse writes, as nf_conntrack_max does outside the initial netns. */
  readonly readOnlyProc = new Set<string>();

  readonly sysctl: SysctlFs = {
    read: (name) => {
      const v = this.proc.get(name);
      return v === undefined ? Promise.reject(fsError('ENOENT', 'no such file or directory', name)) : Promise.resolve(v);
    },
    write: (name, value) => {
      if (!this.proc.has(name)) return Promise.reject(fsError('ENOENT', 'no such file or directory', name));
      if (this.readOnlyProc.has(name)) return Promise.reject(fsError('EACCES', 'permission denied', name));
      this.proc.set(name, value.trim());
      return Promise.resolve();
    },
  };

  /** The next call of `tool` fails this way without touching state. */
  failNext(tool: string, fault: Fault): void {
    this.faults.push({ tool, fault });
  }

  /** Batch lines of `tool` matching `match` fail at kernel level (`times` times), as the tool reports such errors. */
  failLine(tool: 'ipvsadm' | 'ipset' | 'ip' | 'iptables' | 'nft', match: string | RegExp, message = 'Invalid argument', times = 1): void {
    this.lineFaults.push({ tool, match, message, remaining: times });
  }

  /** From now on `tool` is not installed. */
  uninstall(tool: string): void {
    this.missing.add(tool);
  }

  callCount(tool?: string): number {
    return tool === undefined ? [...this.calls.values()].reduce((a, b) => a + b, 0) : (this.calls.get(tool) ?? 0);
  }

  run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    const tool = toolName(argv);
    this.calls.set(tool, (this.calls.get(tool) ?? 0) + 1);
    const at = this.faults.findIndex((f) => toolMatches(f.tool, tool));
    const fault = at < 0 ? undefined : this.faults.splice(at, 1)[0]?.fault;
    const base = { argv, ...(opts.input === undefined ? {} : { input: opts.input }) };
    if (this.missing.has(tool) || fault?.kind === 'missing') return Promise.reject(new ToolError({ ...base, code: 'TOOL_MISSING' }));
    if (fault?.kind === 'timeout') return Promise.reject(new ToolError({ ...base, code: 'TOOL_TIMEOUT' }));
    const out: Outcome = fault?.kind === 'exit'
      ? { stdout: '', stderr: fault.stderr, exitCode: fault.exitCode }
      : this.dispatch(tool, argv.slice(1), opts.input, this.lineFault(tool));
    if (out.exitCode !== 0) return Promise.reject(new ToolError({ ...base, code: 'TOOL_FAILED', exitCode: out.exitCode, stdout: out.stdout, stderr: out.stderr }));
    return Promise.resolve({ stdout: out.stdout, stderr: out.stderr });
  }

  /** A change made by someone else (an admin, another proxy): not counted, never faulted. */
  admin(argv: readonly string[], input?: string): string {
    const out = this.dispatch(toolName(argv), argv.slice(1), input, () => undefined);
    if (out.exitCode !== 0) throw new Error(`${argv.join(' ')}: exit ${out.exitCode}: ${out.stderr}`);
    return out.stdout;
  }

  private lineFault(tool: string): LineFault {
    return (line) => {
      const rule = this.lineFaults.find((r) => r.remaining > 0 && toolMatches(r.tool, tool) &&
        (typeof r.match === 'string' ? line.includes(r.match) : r.match.test(line)));
      if (rule === undefined) return undefined;
      rule.remaining--;
      return rule.message;
    };
  }

  private dispatch(tool: string, args: readonly string[], input: string | undefined, fault: LineFault): Outcome {
    switch (tool) {
      case 'ipvsadm': return this.ipvs.run(args, input, fault);
      case 'ipset': return this.ipset.run(args, input, fault);
      case 'ip': return this.ip.run(args, input, fault);
      case 'conntrack': return this.conntrack.run(args);
      case 'nft': return this.nft.run(args, input, fault);
    }
    const m = IPTABLES_BIN.exec(tool);
    if (m === null) return { stdout: '', stderr: `fake kernel: no tool ${tool}\n`, exitCode: 127 };
    const family = m[1] === 'iptables' ? 4 : 6;
    const backend = (m[2] as FakeBackend | undefined) ?? this.defaultBackend;
    const opt = (o: string): string | undefined => { const i = args.indexOf(o); return i < 0 ? undefined : args[i + 1]; };
    if (m[3] === 'save') return this.iptables.save(family, backend, opt('-t'));
    if (m[3] === 'restore') return this.iptables.restore(family, backend, tool, args.includes('--noflush') || args.includes('-n'), input, fault);
    // The plain CLI (`iptables -t nat -D CHAIN …`) as a one-line --noflush restore.
    const rest = args.filter((_, i) => args[i] !== '-t' && args[i - 1] !== '-t' && args[i] !== '-w');
    const line = rest.map((a) => (/\s/.test(a) ? `"${a}"` : a)).join(' ');
    const r = this.iptables.restore(family, backend, tool, true, `*${opt('-t') ?? 'filter'}\n${line}\nCOMMIT\n`, fault);
    return r.exitCode === 0 ? r : { ...r, exitCode: 1 };
  }
}
