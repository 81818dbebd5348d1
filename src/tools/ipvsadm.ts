// ipvsadm's language: the table as `ipvsadm -Sn` prints it and `ipvsadm -R` reads it, the
// `ipvsadm -Ln --exact` listings, and the batch lines. Pure: src/apply/ipvsadm.ts runs the tool.
// Virtual servers this proxy does not manage (fwmark services, other options) are parsed
// and kept, so the diff can leave them alone instead of misreading them. Reading ipvsadm's
// text rather than netlink also means the kernel-internal HASHED flag never shows up, so it
// cannot make every service look changed (#53801): only scheduler flags are compared.
import { compareIp, hostPort, parseIp, parseIpPort, type Ip } from '../compute/net/ip.ts';
import { PROTOCOLS, virtualServerKey, type Protocol, type RealServer, type VirtualServer } from '../compute/model/types.ts';


// Writing: lines as `ipvsadm-save -n` prints them; the same text `ipvsadm -R` reads.
const PROTO_FLAG: Readonly<Record<Protocol, string>> = { TCP: '-t', UDP: '-u', SCTP: '--sctp-service' };

export const serviceArg = (vs: Pick<VirtualServer, 'protocol' | 'ip' | 'port'>): string =>
  `${PROTO_FLAG[vs.protocol]} ${hostPort(vs.ip, vs.port)}`;

/** `-s SCHED [-p TIMEOUT] [-b FLAGS]`: the options of `-A`/`-E`, in ipvsadm's print order. */
export function serviceOptions(vs: VirtualServer): string {
  const persistence = vs.persistence === undefined ? '' : ` -p ${vs.persistence}`;
  const flags = vs.schedulerFlags.length === 0 ? '' : ` -b ${vs.schedulerFlags.join(',')}`;
  return `-s ${vs.scheduler}${persistence}${flags}`;
}

export const addServiceLine = (vs: VirtualServer): string => `-A ${serviceArg(vs)} ${serviceOptions(vs)}`;

export const realServerArgs = (vs: VirtualServer, rs: RealServer): string =>
  `${serviceArg(vs)} -r ${hostPort(rs.ip, rs.port)} -m -w ${rs.weight}`;

export const addRealServerLine = (vs: VirtualServer, rs: RealServer): string => `-a ${realServerArgs(vs, rs)}`;

/** The whole table, services in the order given, each followed by its real servers. */
export function formatIpvsadmSave(vss: Iterable<VirtualServer>): string {
  const lines: string[] = [];
  for (const vs of vss) {
    lines.push(addServiceLine(vs));
    for (const rs of vs.realServers) lines.push(addRealServerLine(vs, rs));
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

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

const PROTO_OPTS: Readonly<Record<string, Protocol>> = { '-t': 'TCP', '-u': 'UDP', '--sctp-service': 'SCTP' };
const FORWARDING: Readonly<Record<string, Forwarding>> = { '-m': 'masq', '-g': 'gate', '-i': 'ipip' };
// Options of -A/-a that stand alone; any other unknown option is taken to carry one value.
const FLAG_OPTS = new Set(['-o', '--ops', '-6', '-m', '-g', '-i']);

export const targetKey = (t: ServiceTarget): string =>
  t.kind === 'fwmark' ? `FWM/${t.mark}` : virtualServerKey(t.protocol, t.ip, t.port);

function parseTarget(opt: string, value: string): ServiceTarget | undefined {
  if (opt === '-f') return /^\d+$/.test(value) ? { kind: 'fwmark', mark: Number(value) } : undefined;
  const protocol = PROTO_OPTS[opt];
  const hp = parseIpPort(value);
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
  const hp = parseIpPort(get('-r') ?? '');
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

/** A service's key from its `-A` argument as a dump's block id (`-t 10.96.0.10:80`); undefined if unreadable. */
export function keyOfServiceArg(id: string): string | undefined {
  const sp = id.indexOf(' ');
  const t = sp < 0 ? undefined : parseTarget(id.slice(0, sp), id.slice(sp + 1));
  return t === undefined ? undefined : targetKey(t);
}

const byAddress = (a: ObservedRealServer, b: ObservedRealServer): number => compareIp(a.ip, b.ip) || a.port - b.port;

/**
 * The text `ipvsadm -Sn` prints for `s` (its `-A` line and its `-a` lines, each ending in a
 * newline), once per order its real servers may come in, made as asked for: sorted by address and
 * port, as ipvsadm 1.31 prints them (test/kernel/resync-printed.vmtest.ts; the fake kernel does the
 * same), then, when that differs, as listed in `s` (the order they were applied in, the kernel's
 * list order, for an ipvsadm that would print it unsorted). Only for the shape this proxy
 * programs — an address service whose real servers all masquerade, without a persistence mask or other options; none for any other, whose
 * block is then parsed. Parsing any of these texts gives `s` back (test/tools/ipvsadm-saved.test.ts),
 * so a block of exactly these bytes holds `s`.
 */
export function* savedTexts(s: ObservedService): Generator<string> {
  const t = s.target;
  if (t.kind !== 'address' || s.netmask !== undefined || s.otherOptions.length > 0 || s.realServers.some((r) => r.forwarding !== 'masq')) return;
  const arg = serviceArg(t);
  const head = `-A ${arg} -s ${s.scheduler}${s.persistence === undefined ? '' : ` -p ${String(s.persistence)}`}${s.schedulerFlags.length === 0 ? '' : ` -b ${s.schedulerFlags.join(',')}`}\n`;
  const text = (rs: readonly ObservedRealServer[]): string => [head, ...rs.map((r) => `-a ${arg} -r ${hostPort(r.ip, r.port)} -m -w ${String(r.weight)}\n`)].join('');
  const sorted = [...s.realServers].sort(byAddress);
  yield text(sorted);
  if (sorted.some((r, i) => r !== s.realServers[i])) yield text(s.realServers);
}

/** `ipvsadm -Sn` (= `ipvsadm-save -n`) text → the table. */
export const parseIpvsadmSave = (text: string): IpvsTable => parseWith(text, { targets: new Map(), ips: new Map() });

/** parseIpvsadmSave for many parts of one dump (its blocks): targets and addresses parsed once. */
export function ipvsadmSaveParser(): (text: string) => IpvsTable {
  const memo: ParseMemo = { targets: new Map(), ips: new Map() };
  return (text) => parseWith(text, memo);
}

function parseWith(text: string, memo: ParseMemo): IpvsTable {
  const services = new Map<string, ObservedService>();
  const skipped: string[] = [];
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

// Reading `ipvsadm -Ln --exact` (connection counts, for graceful termination) and
// `ipvsadm -Ln --stats --exact` (traffic counters), keyed like the table from `ipvsadm -Sn`.

/** `TCP  10.96.0.10:80 rr …` / `FWM  100 wlc` → the service key, as targetKey() makes it. */
function serviceKey(proto: string, addr: string): string | undefined {
  if (proto === 'FWM') return /^\d+$/.test(addr) ? `FWM/${addr}` : undefined;
  const p = PROTOCOLS.find((x) => x === proto);
  const hp = parseIpPort(addr);
  return p === undefined || hp === undefined ? undefined : virtualServerKey(p, hp.ip, hp.port);
}

type Row =
  | { kind: 'service'; key: string; rest: string[] }
  | { kind: 'real'; ip: Ip; port: number; rest: string[] };

/** Header lines (`IP Virtual Server…`, `Prot …`, `  -> RemoteAddress:Port …`) yield nothing. */
function rows(text: string): Row[] {
  const out: Row[] = [];
  for (const line of text.split('\n')) {
    const [first = '', second = '', ...rest] = line.trim().split(/\s+/);
    if (first === '->') {
      const hp = parseIpPort(second);
      if (hp !== undefined) out.push({ kind: 'real', ...hp, rest });
      continue;
    }
    const key = serviceKey(first, second);
    if (key !== undefined) out.push({ kind: 'service', key, rest });
  }
  return out;
}

/** Rows grouped under their service line; an unreadable service drops its real servers too. */
function grouped<S, R>(text: string, svc: (rest: string[]) => S | undefined, real: (ip: Ip, port: number, rest: string[]) => R | undefined): Map<string, S & { realServers: R[] }> {
  const out = new Map<string, S & { realServers: R[] }>();
  let current: (S & { realServers: R[] }) | undefined;
  for (const r of rows(text)) {
    if (r.kind === 'service') {
      const s = svc(r.rest);
      current = s === undefined ? undefined : { ...s, realServers: [] };
      if (current !== undefined) out.set(r.key, current);
    } else {
      const rs = real(r.ip, r.port, r.rest);
      if (rs !== undefined) current?.realServers.push(rs);
    }
  }
  return out;
}

const wholeNumber = (s: string | undefined): number | undefined => (s !== undefined && /^\d+$/.test(s) ? Number(s) : undefined);

export interface RealServerConns {
  readonly ip: Ip;
  readonly port: number;
  readonly weight: number;
  readonly activeConns: number;
  readonly inactiveConns: number;
}

/** Service key → its real servers' connection counts. */
export function parseConnCounts(text: string): Map<string, readonly RealServerConns[]> {
  const g = grouped(text, () => ({}), (ip, port, [, weight, active, inactive]): RealServerConns | undefined => {
    const [w, a, i] = [wholeNumber(weight), wholeNumber(active), wholeNumber(inactive)];
    return w === undefined || a === undefined || i === undefined ? undefined : { ip, port, weight: w, activeConns: a, inactiveConns: i };
  });
  return new Map([...g].map(([k, v]) => [k, v.realServers]));
}

export interface Counters {
  readonly conns: number;
  readonly inPkts: number;
  readonly outPkts: number;
  readonly inBytes: number;
  readonly outBytes: number;
}

export interface ServiceStats {
  readonly stats: Counters;
  readonly realServers: readonly { readonly ip: Ip; readonly port: number; readonly stats: Counters }[];
}

function counters(cols: readonly string[]): Counters | undefined {
  const n = cols.slice(0, 5).map(wholeNumber);
  const [conns, inPkts, outPkts, inBytes, outBytes] = n;
  if (conns === undefined || inPkts === undefined || outPkts === undefined || inBytes === undefined || outBytes === undefined) return undefined;
  return { conns, inPkts, outPkts, inBytes, outBytes };
}

/** Service key → counters (`--exact`: whole numbers, no K/M suffixes). */
export function parseStats(text: string): Map<string, ServiceStats> {
  return grouped(text, (rest) => { const stats = counters(rest); return stats === undefined ? undefined : { stats }; }, (ip, port, rest) => {
    const stats = counters(rest);
    return stats === undefined ? undefined : { ip, port, stats };
  });
}
