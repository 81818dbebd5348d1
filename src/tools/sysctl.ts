// The kernel settings IPVS mode needs, as data (pure): kube-proxy's sysctls for a kernel
// version, and the version read from `kernel/osrelease`. src/apply/sysctl.ts reads and writes
// them as /proc/sys files.

export interface KernelVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
}

/** `6.1.0-26-amd64`, `5.4.0`, `4.19.112+` → numbers; undefined when unreadable. */
export function parseKernelVersion(release: string): KernelVersion | undefined {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(release.trim());
  if (m === null) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3] ?? 0) };
}

const atLeast = (v: KernelVersion, major: number, minor: number): boolean =>
  v.major > major || (v.major === major && v.minor >= minor);

export interface Sysctl {
  readonly name: string;
  readonly value: string;
}

export interface SysctlOptions {
  /** Unknown kernel: conn_reuse_mode is left alone. */
  readonly kernel: KernelVersion | undefined;
  readonly strictArp: boolean;
}

/** What kube-proxy's IPVS mode sets (pkg/proxy/ipvs/proxier.go), in its order. */
export function requiredSysctls(o: SysctlOptions): Sysctl[] {
  const out: Sysctl[] = [{ name: 'net/ipv4/vs/conntrack', value: '1' }];
  // Below 4.1 the knob does not exist; from 5.9 the kernel no longer drops SYNs that reuse a
  // port of a connection to a removed real server, and mode 0 would keep weight-0 servers
  // from ever draining (#81775), so mode 0 is only wanted in between.
  const k = o.kernel;
  if (k !== undefined && atLeast(k, 4, 1) && !atLeast(k, 5, 9)) out.push({ name: 'net/ipv4/vs/conn_reuse_mode', value: '0' });
  out.push(
    { name: 'net/ipv4/vs/expire_nodest_conn', value: '1' },
    { name: 'net/ipv4/vs/expire_quiescent_template', value: '1' },
    { name: 'net/ipv4/ip_forward', value: '1' },
  );
  if (o.strictArp) {
    // VIPs live on kube-ipvs0; without these the node answers ARP for every one of them.
    out.push({ name: 'net/ipv4/conf/all/arp_ignore', value: '1' }, { name: 'net/ipv4/conf/all/arp_announce', value: '2' });
  }
  return out;
}
