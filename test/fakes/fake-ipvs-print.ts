// ipvsadm's printouts of the fake table, column for column (ipvsadm.c print_service_entry;
// checked against test/fixtures/tools/ipvsadm-*.txt).
import { compareIp } from '../../src/compute/net/ip.ts';
import type { FakeCounters, FakeForward, FakeRealServer, FakeService, FakeIpvs } from './fake-ipvs.ts';
import { text } from './tool.ts';

/**
 * A service's real servers in the order ipvsadm prints them: sorted by address, then port (as
 * ipvsadm 1.31 on Debian's 6.1 kernel prints them, whatever order they were added in; seen in the
 * test VM), not in the kernel's list order.
 */
const printOrder = (s: FakeService): [string, FakeRealServer][] =>
  [...s.reals].sort(([, a], [, b]) => compareIp(a.ip, b.ip) || a.port - b.port);

const FLAG_NAMES: Readonly<Record<string, readonly string[]>> = {
  sh: ['sh-fallback', 'sh-port', 'flag-3'],
  mh: ['mh-fallback', 'mh-port', 'flag-3'],
};
const flagNames = (s: FakeService): string[] =>
  (FLAG_NAMES[s.scheduler] ?? ['flag-1', 'flag-2', 'flag-3']).filter((_, i) => (s.flagBits & (1 << i)) !== 0);

const SAVE_PROTO: Readonly<Record<FakeService['proto'], string>> = { TCP: '-t', UDP: '-u', SCTP: '--sctp-service', FWM: '-f' };
const LIST_FORWARD: Readonly<Record<FakeForward, string>> = { m: 'Masq', g: 'Route', i: 'Tunnel' };

/** `ipvsadm -Sn`: services in table order, each followed by its real servers. */
export const ipvsSave = (ipvs: FakeIpvs): string => text([...ipvsSaveLines(ipvs)]);

/**
 * ipvsSave's lines one service at a time, over the live table (as the kernel's dump: a change
 * made between two services shows in what follows; bench/kernel-server.ts serves it in chunks).
 */
export function* ipvsSaveLines(ipvs: FakeIpvs): Generator<string> {
  for (const s of ipvs.services.values()) {
    const lines: string[] = [];
    const svc = `${SAVE_PROTO[s.proto]} ${s.addr}`;
    const flags = flagNames(s);
    lines.push(`-A ${svc} -s ${s.scheduler}${s.persistence === undefined ? '' : ` -p ${s.persistence}`}` +
      `${s.netmask === undefined ? '' : ` -M ${s.netmask}`}${flags.length === 0 ? '' : ` -b ${flags.join(',')}`}${s.onePacket ? ' -o' : ''}`);
    for (const [addr, r] of printOrder(s)) {
      lines.push(`-a ${svc} -r ${addr} -${r.forward} -w ${r.weight}${r.forward === 'i' ? ' --tun-type ipip' : ''}`);
    }
    yield* lines;
  }
}

const num = (n: number): string => ` ${String(n).padStart(8)}`;
const counters = (c: FakeCounters): string => [c.conns, c.inPkts, c.outPkts, c.inBytes, c.outBytes].map(num).join('');

/** `ipvsadm -Ln --exact`, or with `--stats`; one service (`-t VIP:PORT`) prints no version line. */
export function ipvsList(ipvs: FakeIpvs, stats: boolean, only?: string): string {
  const lines = [
    ...(only === undefined ? ['IP Virtual Server version 1.2.1 (size=4096)'] : []),
    stats ? 'Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes' : 'Prot LocalAddress:Port Scheduler Flags',
    stats ? '  -> RemoteAddress:Port' : '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
  ];
  for (const [key, s] of ipvs.services) {
    if (only !== undefined && key !== only) continue;
    const name = `${s.proto.padEnd(4)} ${s.addr}`;
    if (stats) lines.push(`${name.padEnd(33)}${counters(s.stats)}`);
    else {
      const flags = flagNames(s);
      const persistent = s.persistence === undefined ? '' : ` persistent ${s.persistence}${s.netmask === undefined ? '' : ` mask ${s.netmask}`}`;
      lines.push(`${name} ${s.scheduler}${flags.length === 0 ? '' : ` (${flags.join(',')})`}${persistent}${s.onePacket ? ' ops' : ''}`);
    }
    for (const [addr, r] of printOrder(s)) {
      lines.push(stats
        ? `  -> ${addr.padEnd(28)}${counters(r.stats)}`
        : `  -> ${addr.padEnd(28)} ${LIST_FORWARD[r.forward].padEnd(7)} ${String(r.weight).padEnd(6)} ${String(r.activeConns).padEnd(10)} ${String(r.inactiveConns).padEnd(10)}`);
    }
  }
  return text(lines);
}
