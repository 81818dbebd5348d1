// Kernel settings read and written as /proc/sys files (no process spawn). What to set is
// src/tools/sysctl.ts.
import { readFile, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Conntrack } from '../config/merged.ts';
import { parseKernelVersion, type KernelVersion, type Sysctl } from '../tools/sysctl.ts';

/** Sysctls by name with slashes (`net/ipv4/vs/conntrack`); values without the trailing newline. */
export interface SysctlFs {
  read(name: string): Promise<string>;
  write(name: string, value: string): Promise<void>;
}

export function procSysFs(root = '/proc/sys'): SysctlFs {
  return {
    read: async (name) => (await readFile(join(root, name), 'utf8')).trim(),
    write: (name, value) => writeFile(join(root, name), `${value}\n`),
  };
}

export const readKernelVersion = async (fs: SysctlFs): Promise<KernelVersion | undefined> =>
  parseKernelVersion(await fs.read('kernel/osrelease'));

export interface SysctlChange {
  readonly name: string;
  readonly from: string;
  readonly to: string;
}

/** Writes only the values that differ, so an unchanged node sees no writes; returns them. */
export async function ensureSysctls(fs: SysctlFs, wanted: readonly Sysctl[]): Promise<SysctlChange[]> {
  const changes: SysctlChange[] = [];
  for (const s of wanted) {
    const from = await fs.read(s.name);
    if (from === s.value) continue;
    await fs.write(s.name, s.value);
    changes.push({ name: s.name, from, to: s.value });
  }
  return changes;
}

export interface SysctlFailure {
  readonly name: string;
  readonly to: string;
  readonly error: string;
}

export interface ConntrackResult {
  readonly changes: SysctlChange[];
  /** Settings the node refused (nf_conntrack_max is read-only outside the initial netns). */
  readonly failed: SysctlFailure[];
}

/**
 * kube-proxy's --conntrack-* settings: nf_conntrack_max is only ever raised (to
 * max(maxPerCore × cores, min)); timeouts of 0 leave the kernel's value. A refused write is
 * reported, not fatal: kube-proxy stops there (except for a read-only /sys), which is why kind
 * and other nested set-ups must pass --conntrack-max-per-core=0; proxying works without it.
 */
export async function conntrackSysctls(fs: SysctlFs, c: Conntrack, cores = availableParallelism()): Promise<ConntrackResult> {
  const changes: SysctlChange[] = [];
  const failed: SysctlFailure[] = [];
  const set = async (name: string, value: number, onlyRaise = false): Promise<void> => {
    const from = await fs.read(name).catch(() => undefined);
    if (from === undefined || Number(from) === value || (onlyRaise && Number(from) > value)) return;
    try {
      await fs.write(name, String(value));
      changes.push({ name, from, to: String(value) });
    } catch (e) {
      failed.push({ name, to: String(value), error: e instanceof Error ? e.message : String(e) });
    }
  };
  if (c.maxPerCore > 0) await set('net/netfilter/nf_conntrack_max', Math.max(c.maxPerCore * cores, c.min), true);
  if (c.tcpEstablished > 0) await set('net/netfilter/nf_conntrack_tcp_timeout_established', c.tcpEstablished);
  if (c.tcpCloseWait > 0) await set('net/netfilter/nf_conntrack_tcp_timeout_close_wait', c.tcpCloseWait);
  if (c.udp > 0) await set('net/netfilter/nf_conntrack_udp_timeout', c.udp);
  if (c.udpStream > 0) await set('net/netfilter/nf_conntrack_udp_timeout_stream', c.udpStream);
  if (c.tcpBeLiberal) await set('net/netfilter/nf_conntrack_tcp_be_liberal', 1);
  return { changes, failed };
}
