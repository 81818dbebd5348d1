// Virtual servers as `ipvsadm-save -n` prints them; the same text `ipvsadm -R` reads.
import { hostPort } from '../net/ip.ts';
import type { Protocol, RealServer, VirtualServer } from '../model/types.ts';

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
