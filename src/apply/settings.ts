// Node-wide kernel settings IPVS mode needs: sysctls (kube-proxy's list, strict ARP, the
// conn_reuse_mode kernel rule) and IPVS timeouts. Applied at start and on every full sync;
// only values that differ are written.
import type { Runner } from './exec.ts';
import { setTimeouts } from './ipvsadm.ts';
import { ensureSysctls, readKernelVersion, type SysctlChange, type SysctlFs } from './sysctl.ts';
import { requiredSysctls } from '../tools/sysctl.ts';

export interface IpvsTimeouts {
  /** Seconds; 0 leaves the kernel's value. */
  readonly tcp: number;
  readonly tcpFin: number;
  readonly udp: number;
}

export interface KernelSettings {
  readonly strictArp: boolean;
  readonly timeouts: IpvsTimeouts;
}

const TIMEOUTS = /Timeout \(tcp tcpfin udp\): (\d+) (\d+) (\d+)/;

export async function ensureKernelSettings(runner: Runner, fs: SysctlFs, s: KernelSettings): Promise<SysctlChange[]> {
  const changes = await ensureSysctls(fs, requiredSysctls({ kernel: await readKernelVersion(fs), strictArp: s.strictArp }));
  const { tcp, tcpFin, udp } = s.timeouts;
  if (tcp === 0 && tcpFin === 0 && udp === 0) return changes;
  const m = TIMEOUTS.exec((await runner.run(['ipvsadm', '-Ln', '--timeout'])).stdout);
  const cur = m === null ? undefined : [Number(m[1]), Number(m[2]), Number(m[3])];
  const want = [tcp, tcpFin, udp].map((v, i) => (v === 0 ? cur?.[i] ?? 0 : v));
  if (cur === undefined || want.some((v, i) => v !== cur[i])) {
    await setTimeouts(runner, tcp, tcpFin, udp);
    changes.push({ name: 'ipvs timeouts (tcp tcpfin udp)', from: cur?.join(' ') ?? '?', to: want.join(' ') });
  }
  return changes;
}
