// `ipvsadm -Ln --exact` (connection counts, for graceful termination) and
// `ipvsadm -Ln --stats --exact` (traffic counters), keyed like the table from `ipvsadm -Sn`.
import type { Ip } from '../compute/net/ip.ts';
import { virtualServerKey, type Protocol } from '../compute/model/types.ts';
import type { Runner } from './exec.ts';
import { serviceArg } from '../compute/format/ipvsadm.ts';
import type { ServiceId } from './ipvsadm.ts';
import { parseHostPort } from './ipvsadm.ts';

const PROTOCOLS: Readonly<Record<string, Protocol>> = { TCP: 'TCP', UDP: 'UDP', SCTP: 'SCTP' };

/** `TCP  10.96.0.10:80 rr …` / `FWM  100 wlc` → the service key, as targetKey() makes it. */
function serviceKey(proto: string, addr: string): string | undefined {
  if (proto === 'FWM') return /^\d+$/.test(addr) ? `FWM/${addr}` : undefined;
  const p = PROTOCOLS[proto];
  const hp = parseHostPort(addr);
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
      const hp = parseHostPort(second);
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

const int = (s: string | undefined): number | undefined => (s !== undefined && /^\d+$/.test(s) ? Number(s) : undefined);

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
    const [w, a, i] = [int(weight), int(active), int(inactive)];
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
  const n = cols.slice(0, 5).map(int);
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

/** Above this many services one whole-table dump is cheaper than one listing each. */
const PER_SERVICE_MAX = 4;

/**
 * Connection counts: of the given services (one `ipvsadm -Ln --exact -t …` each, so removing a
 * pod's endpoint does not dump a 10,000-service table), or of all when there are many or none
 * are named.
 */
export async function readConnCounts(runner: Runner, services?: readonly ServiceId[]): Promise<Map<string, readonly RealServerConns[]>> {
  if (services === undefined || services.length > PER_SERVICE_MAX) return parseConnCounts((await runner.run(['ipvsadm', '-Ln', '--exact'])).stdout);
  const out = new Map<string, readonly RealServerConns[]>();
  for (const s of services) {
    const parts = (await runner.run(['ipvsadm', '-Ln', '--exact', ...serviceArg(s).split(' ')])).stdout;
    for (const [k, v] of parseConnCounts(parts)) out.set(k, v);
  }
  return out;
}

export const readStats = async (runner: Runner): Promise<Map<string, ServiceStats>> =>
  parseStats((await runner.run(['ipvsadm', '-Ln', '--stats', '--exact'])).stdout);
