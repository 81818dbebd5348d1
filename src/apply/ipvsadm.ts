// The IPVS table through ipvsadm: read with one `ipvsadm -Sn`, changed with one `ipvsadm -R`.
// Virtual servers this proxy does not manage (fwmark services, other options) are parsed
// and kept, so the diff can leave them alone instead of misreading them. Reading ipvsadm's
// text rather than netlink also means the kernel-internal HASHED flag never shows up, so it
// cannot make every service look changed (#53801): only scheduler flags are compared.
import { addRealServerLine, addServiceLine, realServerArgs, serviceArg, serviceOptions } from '../compute/format/ipvsadm.ts';
import { hostPort, parseIp, type Ip } from '../compute/net/ip.ts';
import { virtualServerKey, type Protocol, type RealServer, type VirtualServer } from '../compute/model/types.ts';
import { batchTimeoutMs, ToolError, type Runner } from './exec.ts';

export type Forwarding = 'masq' | 'gate' | 'ipip';

export interface ObservedRealServer {
  readonly ip: Ip;
  readonly port: number;
  readonly weight: number;
  readonly forwarding: Forwarding;
}

export type ServiceTarget =
  | { readonly kind: 'address'; readonly protocol: Protocol; readonly ip: Ip; readonly port: number }
  | { readonly kind: 'fwmark'; readonly mark: number };

export interface ObservedService {
  /** virtualServerKey() for an address, `FWM/<mark>` for a firewall-mark service. */
  readonly key: string;
  readonly target: ServiceTarget;
  readonly scheduler: string;
  /** Sorted, as VirtualServer.schedulerFlags. */
  readonly schedulerFlags: readonly string[];
  readonly persistence?: number;
  /** `-M`: printed only for a persistence mask other than the full one. */
  readonly netmask?: string;
  /** Options not interpreted here (`-o`, `-6`…), verbatim. */
  readonly otherOptions: readonly string[];
  readonly realServers: readonly ObservedRealServer[];
}

export interface IpvsTable {
  readonly services: ReadonlyMap<string, ObservedService>;
  /** Lines that could not be read (reported, never guessed at). */
  readonly skipped: readonly string[];
}

/** `10.96.0.10:80` or `[fd00::10]:80`. */
export function parseHostPort(s: string): { ip: Ip; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):(\d{1,5})$/.exec(s);
  const ip = parseIp(m?.[1] ?? m?.[2] ?? '');
  const port = Number(m?.[3]);
  return ip === undefined || !(port <= 65535) ? undefined : { ip, port };
}

const PROTO_OPTS: Readonly<Record<string, Protocol>> = { '-t': 'TCP', '-u': 'UDP', '--sctp-service': 'SCTP' };
const FORWARDING: Readonly<Record<string, Forwarding>> = { '-m': 'masq', '-g': 'gate', '-i': 'ipip' };
// Options of -A/-a that stand alone; any other unknown option is taken to carry one value.
const FLAG_OPTS = new Set(['-o', '--ops', '-6', '-m', '-g', '-i']);

export const targetKey = (t: ServiceTarget): string =>
  t.kind === 'fwmark' ? `FWM/${t.mark}` : virtualServerKey(t.protocol, t.ip, t.port);

function parseTarget(opt: string, value: string): ServiceTarget | undefined {
  if (opt === '-f') return /^\d+$/.test(value) ? { kind: 'fwmark', mark: Number(value) } : undefined;
  const protocol = PROTO_OPTS[opt];
  const hp = parseHostPort(value);
  return protocol === undefined || hp === undefined ? undefined : { kind: 'address', protocol, ...hp };
}

/** Splits `-X value` pairs; the first pair is the service. */
function optionPairs(tokens: readonly string[]): [string, string | undefined][] {
  const out: [string, string | undefined][] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i] ?? '';
    const next = tokens[i + 1];
    if (FLAG_OPTS.has(t) || next === undefined || next.startsWith('-')) out.push([t, undefined]);
    else { out.push([t, next]); i++; }
  }
  return out;
}

type Line =
  | { kind: 'service'; service: ObservedService }
  | { kind: 'real'; key: string; rs: ObservedRealServer };

function parseLine(line: string): Line | undefined {
  const [cmd, ...rest] = line.trim().split(/\s+/);
  const [first, ...opts] = optionPairs(rest);
  const target = first?.[1] === undefined ? undefined : parseTarget(first[0], first[1]);
  if (target === undefined) return undefined;
  const get = (o: string): string | undefined => opts.find(([k]) => k === o)?.[1];
  const other = opts.filter(([k]) => !['-s', '-p', '-M', '-b', '-r', '-w', '-m', '-g', '-i'].includes(k))
    .flatMap(([k, v]) => (v === undefined ? [k] : [k, v]));
  if (cmd === '-A') {
    const p = get('-p');
    const netmask = get('-M');
    const service: ObservedService = {
      key: targetKey(target), target, scheduler: get('-s') ?? 'wlc', // ipvsadm's default scheduler
      schedulerFlags: (get('-b') ?? '').split(',').filter((f) => f !== '').sort(),
      ...(p === undefined ? {} : { persistence: Number(p) }),
      ...(netmask === undefined ? {} : { netmask }),
      otherOptions: other, realServers: [],
    };
    return { kind: 'service', service };
  }
  const hp = parseHostPort(get('-r') ?? '');
  if (cmd !== '-a' || hp === undefined) return undefined;
  const forwarding = opts.map(([k]) => FORWARDING[k]).find((f) => f !== undefined) ?? 'gate';
  return { kind: 'real', key: targetKey(target), rs: { ...hp, weight: Number(get('-w') ?? 1), forwarding } };
}

/** Per parse: targets by option and text, addresses by text (one address backs several services). */
interface ParseMemo {
  readonly targets: Map<string, Map<string, { readonly target: ServiceTarget; readonly key: string } | null>>;
  readonly ips: Map<string, Ip | null>;
}

/** A decimal number of 1 to `max` digits at line[from, to), or -1. */
function digits(line: string, from: number, to: number, max: number): number {
  if (to <= from || to - from > max) return -1;
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = line.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    n = n * 10 + (c - 48);
  }
  return n;
}

/**
 * A real server as ipvsadm -Sn prints nearly every one — `-a -t VIP:PORT -r A.B.C.D:PORT -m -w 1`,
 * single spaces — read by position, without the general tokenizer; null for any other shape
 * (IPv6, other options, other spacing), which parseLine reads. Nine in ten lines of a dump are
 * these, and the general path was a third of a periodic resync's CPU at 10,000 Services in the
 * daemon's profile (docs/benchmarks.md). Same result as parseLine for them (tested).
 */
function parseRealLine(line: string, memo: ParseMemo): Line | null {
  if (!line.startsWith('-a ')) return null;
  const a = line.indexOf(' ', 3);
  const b = a < 0 ? -1 : line.indexOf(' ', a + 1);
  if (b < 0 || !line.startsWith(' -r ', b)) return null;
  const c = line.indexOf(' ', b + 4);
  const d = c < 0 ? -1 : line.indexOf(' ', c + 1);
  if (d < 0 || !line.startsWith(' -w ', d)) return null;
  const forwarding = FORWARDING[line.slice(c + 1, d)];
  const weight = digits(line, d + 4, line.length, 10);
  const colon = line.lastIndexOf(':', c);
  const port = colon > b + 4 ? digits(line, colon + 1, c, 5) : -1;
  if (forwarding === undefined || weight < 0 || port < 0 || port > 65535 || line.charCodeAt(b + 4) === 91 /* [ */) return null;
  const opt = line.slice(3, a);
  const value = line.slice(a + 1, b);
  let byValue = memo.targets.get(opt);
  if (byValue === undefined) memo.targets.set(opt, (byValue = new Map<string, { readonly target: ServiceTarget; readonly key: string } | null>()));
  let target = byValue.get(value);
  if (target === undefined) {
    const parsed = value.startsWith('-') ? undefined : parseTarget(opt, value);
    target = parsed === undefined ? null : { target: parsed, key: targetKey(parsed) };
    byValue.set(value, target);
  }
  const ipText = line.slice(b + 4, colon);
  let ip = memo.ips.get(ipText);
  if (ip === undefined) memo.ips.set(ipText, (ip = parseIp(ipText) ?? null));
  if (target === null || ip === null) return null;
  return { kind: 'real', key: target.key, rs: { ip, port, weight, forwarding } };
}

/** `ipvsadm -Sn` (= `ipvsadm-save -n`) text → the table. */
export function parseIpvsadmSave(text: string): IpvsTable {
  const services = new Map<string, ObservedService>();
  const skipped: string[] = [];
  const memo: ParseMemo = { targets: new Map(), ips: new Map() };
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const l = parseRealLine(line, memo) ?? parseLine(line);
    if (l?.kind === 'service') services.set(l.service.key, l.service);
    const owner = l?.kind === 'real' ? services.get(l.key) : undefined;
    // parseLine made the service's list just now: appending in place is safe (and O(1)).
    if (l?.kind === 'real' && owner !== undefined) (owner.realServers as ObservedRealServer[]).push(l.rs);
    if (l === undefined || (l.kind === 'real' && owner === undefined)) skipped.push(line);
  }
  return { services, skipped };
}

export type ServiceId = Pick<VirtualServer, 'protocol' | 'ip' | 'port'>;

export type IpvsOp =
  | { readonly op: 'add-service' | 'edit-service'; readonly vs: VirtualServer }
  | { readonly op: 'delete-service'; readonly vs: ServiceId }
  | { readonly op: 'add-real' | 'edit-real'; readonly vs: VirtualServer; readonly rs: RealServer }
  | { readonly op: 'delete-real'; readonly vs: ServiceId; readonly rs: Pick<RealServer, 'ip' | 'port'> };

export function formatIpvsOp(o: IpvsOp): string {
  switch (o.op) {
    case 'add-service': return addServiceLine(o.vs);
    case 'edit-service': return `-E ${serviceArg(o.vs)} ${serviceOptions(o.vs)}`;
    case 'delete-service': return `-D ${serviceArg(o.vs)}`;
    case 'add-real': return addRealServerLine(o.vs, o.rs);
    case 'edit-real': return `-e ${realServerArgs(o.vs, o.rs)}`;
    case 'delete-real': return `-d ${serviceArg(o.vs)} -r ${hostPort(o.rs.ip, o.rs.port)}`;
  }
}

export function formatIpvsBatch(ops: readonly IpvsOp[]): string {
  if (ops.length === 0) return '';
  const lines: string[] = new Array<string>(ops.length);
  // A cold sync is mostly `-a` lines, grouped by service: its argument is built once per service.
  let vs: IpvsOp['vs'] | undefined;
  let prefix = '';
  for (let i = 0; i < ops.length; i++) {
    const o = ops[i];
    if (o === undefined) continue;
    if (o.op !== 'add-real') { lines[i] = formatIpvsOp(o); continue; }
    if (o.vs !== vs) { vs = o.vs; prefix = `-a ${serviceArg(o.vs)} -r `; }
    lines[i] = `${prefix}${hostPort(o.rs.ip, o.rs.port)} -m -w ${o.rs.weight}`;
  }
  // A trailing '' gives the final newline in the same flat string (a `${…}\n` would be a rope
  // of 8 MB at 10,000 Services, flattened again by its first reader).
  lines.push('');
  return lines.join('\n');
}

export const readIpvs = async (runner: Runner): Promise<IpvsTable> =>
  parseIpvsadmSave((await runner.run(['ipvsadm', '-Sn'])).stdout);

export interface IpvsApplyResult {
  /** False when any line may have failed: re-read the table before trusting what is applied. */
  readonly clean: boolean;
  /** ipvsadm's messages; kernel errors carry no line number. */
  readonly messages: readonly string[];
  /** The exit code (the last line's only, see DESIGN §6). */
  readonly exitCode: number;
}

export interface UnappliedLine {
  /** 1-based, in the batch. */
  readonly number: number;
  readonly text: string;
}

/**
 * The batch lines whose effect is missing from `saved` (`ipvsadm -Sn` read after the batch).
 * ipvsadm -R names no line in its kernel-level errors and goes on after them, so this is how
 * a failure is pinned to its input line: added or edited entries absent in the form -Sn prints,
 * deleted ones still present.
 */
export function unappliedLines(batch: string, saved: string): UnappliedLine[] {
  const present = new Set(saved.split('\n').map((l) => l.trim()).filter((l) => l !== ''));
  const prefixes = [...present];
  const stillThere = (prefix: string): boolean => prefixes.some((l) => l === prefix || l.startsWith(`${prefix} `));
  const out: UnappliedLine[] = [];
  batch.split('\n').forEach((raw, i) => {
    const text = raw.trim();
    const [cmd, ...rest] = text.split(' ');
    const args = rest.join(' ');
    const missing = ((): boolean => {
      switch (cmd ?? '') {
        case '-A': case '-a': return !present.has(text);
        case '-E': return !present.has(`-A ${args}`);
        case '-e': return !present.has(`-a ${args}`);
        // "-D -t VIP:PORT" is gone when no "-A -t VIP:PORT …" is left; "-d … -r RS" likewise.
        case '-D': return stillThere(`-A ${args}`);
        case '-d': return stillThere(`-a ${args}`);
        default: return false;
      }
    })();
    if (missing) out.push({ number: i + 1, text });
  });
  return out;
}

/**
 * One `ipvsadm -R`. It runs line by line and its exit code is the last line's only, so any
 * message on stderr counts as a possible failure; missing tool and timeout still throw.
 */
export async function applyIpvsBatch(runner: Runner, batch: string): Promise<IpvsApplyResult> {
  if (batch === '') return { clean: true, messages: [], exitCode: 0 };
  const lines = (s: string): string[] => s.split('\n').filter((l) => l.trim() !== '');
  try {
    const { stderr } = await runner.run(['ipvsadm', '-R'], { input: batch, timeoutMs: batchTimeoutMs(batch) });
    return { clean: lines(stderr).length === 0, messages: lines(stderr), exitCode: 0 };
  } catch (e) {
    if (e instanceof ToolError && e.code === 'TOOL_FAILED') return { clean: false, messages: lines(e.stderr), exitCode: e.exitCode ?? 1 };
    throw e;
  }
}

/** `ipvsadm --set`: TCP, TCP FIN-WAIT and UDP timeouts in seconds; 0 leaves one unchanged. */
export async function setTimeouts(runner: Runner, tcp: number, tcpfin: number, udp: number): Promise<void> {
  await runner.run(['ipvsadm', '--set', String(tcp), String(tcpfin), String(udp)]);
}
