// The daemon's node-level settings and its effective configuration, as files and sysctls.
import { availableParallelism } from 'node:os';
import type { SysctlChange, SysctlFs } from '../apply/sysctl.ts';
import type { ProxyConfig } from '../compute/config.ts';
import { formatDuration } from '../compute/duration.ts';
import type { Conntrack, DaemonOptions, RawDaemonOptions } from './daemon-options.ts';

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

const seconds = (s: number): string => formatDuration(s * 1000);

/**
 * --write-config-to and /configz: the effective configuration as a complete
 * KubeProxyConfiguration v1alpha1, every field kube-proxy writes, in its order. Fields kube-ipvs
 * does not implement (iptables, nftables, winkernel, client QPS…) hold kube-proxy's defaults,
 * so the file also starts a kube-proxy unchanged.
 */
export function kubeProxyConfiguration(raw: RawDaemonOptions, config: ProxyConfig, o: DaemonOptions): object {
  return {
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    bindAddress: o.bindAddress,
    bindAddressHardFail: false,
    clientConnection: { acceptContentTypes: '', burst: 10, contentType: 'application/json', kubeconfig: o.kubeconfig ?? '', qps: 5 },
    clusterCIDR: config.clusterCidrs.map((c) => c.text).join(','),
    configSyncPeriod: '15m0s',
    conntrack: {
      maxPerCore: o.conntrack.maxPerCore, min: o.conntrack.min, tcpBeLiberal: o.conntrack.tcpBeLiberal,
      tcpCloseWaitTimeout: seconds(o.conntrack.tcpCloseWait), tcpEstablishedTimeout: seconds(o.conntrack.tcpEstablished),
      udpStreamTimeout: seconds(o.conntrack.udpStream), udpTimeout: seconds(o.conntrack.udp),
    },
    detectLocal: { bridgeInterface: config.bridgeInterface, interfaceNamePrefix: config.interfaceNamePrefix },
    detectLocalMode: config.detectLocalMode,
    enableProfiling: false,
    healthzBindAddress: o.healthzBindAddress,
    hostnameOverride: raw.hostnameOverride ?? '',
    iptables: { localhostNodePorts: false, masqueradeAll: config.masqueradeAll, masqueradeBit: config.masqueradeBit, minSyncPeriod: '1s', syncPeriod: '30s' },
    ipvs: {
      excludeCIDRs: config.excludeCidrs.map((c) => c.text),
      minSyncPeriod: formatDuration(o.minSyncPeriodMs),
      scheduler: config.scheduler,
      strictARP: config.strictArp,
      syncPeriod: formatDuration(o.syncPeriodMs),
      tcpFinTimeout: seconds(o.ipvsTimeouts.tcpFin),
      tcpTimeout: seconds(o.ipvsTimeouts.tcp),
      udpTimeout: seconds(o.ipvsTimeouts.udp),
    },
    logging: {
      flushFrequency: '5s', format: o.loggingFormat, options: { json: { infoBufferSize: '0' }, text: { infoBufferSize: '0' } },
      verbosity: o.verbosity,
      ...(o.vmodule.length > 0 ? { vmodule: o.vmodule.map((m) => ({ filePattern: m.pattern, verbosity: m.level })) } : {}),
    },
    metricsBindAddress: o.metricsBindAddress,
    mode: 'ipvs',
    nftables: { masqueradeAll: false, masqueradeBit: null, minSyncPeriod: '0s', syncPeriod: '0s' },
    nodePortAddresses: config.nodePortPrimary ? ['primary'] : config.nodePortAddresses.map((c) => c.text),
    oomScoreAdj: o.oomScoreAdj,
    portRange: '',
    showHiddenMetricsForVersion: '',
    winkernel: { enableDSR: false, forwardHealthCheckVip: false, networkName: '', rootHnsEndpointName: '', sourceVip: '' },
  };
}
