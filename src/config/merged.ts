// The daemon's options once flags (flags.ts) and the --config file (file.ts) are merged:
// kube-proxy's IPVS-mode flags and KubeProxyConfiguration fields, same names, defaults and
// validation (every bad value is reported at once, naming the flag), and the effective
// configuration written back as a KubeProxyConfiguration (--write-config-to, /configz).
import { ConfigError, type ProxyConfig, type RawProxyConfig } from '../compute/config.ts';
import { formatDuration, parseDuration } from '../compute/duration.ts';
import { parseIp, splitHostPort } from '../compute/net/ip.ts';

/** Raw values from flags or the config file; durations and addresses still text. */
export interface RawDaemonOptions extends RawProxyConfig {
  readonly proxyMode?: string | undefined;
  readonly syncPeriod?: string | undefined;
  readonly minSyncPeriod?: string | undefined;
  readonly tcpTimeout?: string | undefined;
  readonly tcpFinTimeout?: string | undefined;
  readonly udpTimeout?: string | undefined;
  readonly bindAddress?: string | undefined;
  readonly healthzBindAddress?: string | undefined;
  readonly metricsBindAddress?: string | undefined;
  readonly kubeconfig?: string | undefined;
  readonly master?: string | undefined;
  readonly conntrackMaxPerCore?: number | undefined;
  readonly conntrackMin?: number | undefined;
  readonly conntrackTcpEstablished?: string | undefined;
  readonly conntrackTcpCloseWait?: string | undefined;
  readonly conntrackUdpTimeout?: string | undefined;
  readonly conntrackUdpStreamTimeout?: string | undefined;
  readonly conntrackTcpBeLiberal?: boolean | undefined;
  readonly oomScoreAdj?: number | undefined;
  readonly verbosity?: number | undefined;
  readonly loggingFormat?: string | undefined;
  readonly vmodule?: string | undefined;
  readonly metricsPerService?: boolean | undefined;
}

export interface Conntrack {
  readonly maxPerCore: number;
  readonly min: number;
  /** Seconds; 0 leaves the kernel's value. */
  readonly tcpEstablished: number;
  readonly tcpCloseWait: number;
  readonly udp: number;
  readonly udpStream: number;
  readonly tcpBeLiberal: boolean;
}

export interface DaemonOptions {
  readonly syncPeriodMs: number;
  readonly minSyncPeriodMs: number;
  /** IPVS timeouts in seconds; 0 leaves the kernel's. */
  readonly ipvsTimeouts: { readonly tcp: number; readonly tcpFin: number; readonly udp: number };
  readonly bindAddress: string;
  /** `host:port`, or '' to disable. */
  readonly healthzBindAddress: string;
  readonly metricsBindAddress: string;
  readonly kubeconfig: string | undefined;
  readonly master: string | undefined;
  readonly conntrack: Conntrack;
  readonly oomScoreAdj: number;
  readonly verbosity: number;
  readonly loggingFormat: 'text' | 'json';
  /** --vmodule: verbosity by component name pattern. */
  readonly vmodule: readonly { readonly pattern: string; readonly level: number }[];
  /** kube-ipvs' per-Service traffic series on /metrics (off by default: their size grows with the cluster). */
  readonly metricsPerService: boolean;
}

export const DEFAULTS = {
  syncPeriod: '30s', minSyncPeriod: '0s', healthzBindAddress: '0.0.0.0:10256', metricsBindAddress: '127.0.0.1:10249',
  bindAddress: '0.0.0.0', conntrackMaxPerCore: 32768, conntrackMin: 131072, conntrackTcpEstablished: '24h0m0s',
  conntrackTcpCloseWait: '1h0m0s', oomScoreAdj: -999,
} as const;

function duration(flag: string, text: string | undefined, fallback: string, problems: string[]): number {
  const ms = parseDuration(text ?? fallback);
  if (ms === undefined || ms < 0) {
    problems.push(`${flag}: "${text ?? ''}" is not a duration (e.g. 30s, 1m0s, 500ms)`);
    return 0;
  }
  return ms;
}

/** `host:port` with an IP host (IPv6 in brackets), as kube-proxy's --healthz/--metrics-bind-address. */
export function parseHostPort(text: string): { host: string; port: number } | undefined {
  const hp = splitHostPort(text);
  if (hp === undefined || (hp.host !== '' && parseIp(hp.host) === undefined)) return undefined;
  return { host: hp.host === '' ? '0.0.0.0' : hp.host, port: hp.port };
}

/** kube-proxy's AppendPortIfNeeded: a bare IP gets the default port ("0.0.0.0" → "0.0.0.0:10256"). */
export function appendPortIfNeeded(addr: string, port: number): string {
  const ip = parseIp(addr.replace(/^\[(.*)\]$/, '$1'));
  if (ip === undefined) return addr;
  return ip.family === 6 ? `[${ip.text}]:${port}` : `${ip.text}:${port}`;
}

function hostPort(flag: string, text: string | undefined, fallback: string, problems: string[]): string {
  const v = text === undefined ? fallback : appendPortIfNeeded(text, Number(fallback.slice(fallback.lastIndexOf(':') + 1)));
  if (v === '' || parseHostPort(v) !== undefined) return v;
  problems.push(`${flag}: "${v}" is not IP:port (e.g. 0.0.0.0:10256)`);
  return '';
}

function intInRange(flag: string, v: number | undefined, fallback: number, min: number, max: number, problems: string[]): number {
  const n = v ?? fallback;
  if (!Number.isInteger(n) || n < min || n > max) problems.push(`${flag}: ${String(v)} must be an integer in [${min}, ${max}]`);
  return n;
}

/** --vmodule as klog takes it: `pattern=N,pattern=N`. */
function vmodule(text: string | undefined, problems: string[]): { pattern: string; level: number }[] {
  const out: { pattern: string; level: number }[] = [];
  for (const part of (text ?? '').split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const m = /^([^=]+)=(\d+)$/.exec(part);
    if (m === null) problems.push(`--vmodule: "${part}" is not pattern=N`);
    else out.push({ pattern: m[1] ?? '', level: Number(m[2]) });
  }
  return out;
}

export function resolveDaemonOptions(raw: RawDaemonOptions): DaemonOptions {
  const problems: string[] = [];
  // JSON by default (kube-ipvs' structured logs, which its tooling reads); kube-proxy's default
  // is text: --logging-format=text (or logging.format: text) gives its klog-style lines.
  const loggingFormat = raw.loggingFormat ?? 'json';
  if (loggingFormat !== 'text' && loggingFormat !== 'json') problems.push(`--logging-format: "${loggingFormat}" is not a format; valid: text, json`);
  if (raw.proxyMode !== undefined && raw.proxyMode !== '' && raw.proxyMode !== 'ipvs') {
    problems.push(`--proxy-mode: "${raw.proxyMode}" is not supported: kube-ipvs implements only "ipvs" (kube-proxy's iptables and nftables modes are not provided)`);
  }
  const syncPeriodMs = duration('--ipvs-sync-period', raw.syncPeriod, DEFAULTS.syncPeriod, problems);
  const minSyncPeriodMs = duration('--ipvs-min-sync-period', raw.minSyncPeriod, DEFAULTS.minSyncPeriod, problems);
  if (syncPeriodMs <= 0) problems.push('--ipvs-sync-period: must be greater than 0');
  if (minSyncPeriodMs > syncPeriodMs) problems.push(`--ipvs-min-sync-period: must not exceed --ipvs-sync-period`);
  const seconds = (flag: string, v: string | undefined): number => Math.round(duration(flag, v, '0s', problems) / 1000);
  const bindAddress = raw.bindAddress ?? DEFAULTS.bindAddress;
  if (parseIp(bindAddress) === undefined) problems.push(`--bind-address: "${bindAddress}" is not an IP address`);
  const opts: DaemonOptions = {
    syncPeriodMs,
    minSyncPeriodMs,
    ipvsTimeouts: { tcp: seconds('--ipvs-tcp-timeout', raw.tcpTimeout), tcpFin: seconds('--ipvs-tcpfin-timeout', raw.tcpFinTimeout), udp: seconds('--ipvs-udp-timeout', raw.udpTimeout) },
    bindAddress,
    healthzBindAddress: hostPort('--healthz-bind-address', raw.healthzBindAddress, DEFAULTS.healthzBindAddress, problems),
    metricsBindAddress: hostPort('--metrics-bind-address', raw.metricsBindAddress, DEFAULTS.metricsBindAddress, problems),
    kubeconfig: raw.kubeconfig === '' ? undefined : raw.kubeconfig,
    master: raw.master === '' ? undefined : raw.master,
    conntrack: {
      maxPerCore: intInRange('--conntrack-max-per-core', raw.conntrackMaxPerCore, DEFAULTS.conntrackMaxPerCore, 0, 2 ** 31 - 1, problems),
      min: intInRange('--conntrack-min', raw.conntrackMin, DEFAULTS.conntrackMin, 0, 2 ** 31 - 1, problems),
      tcpEstablished: Math.round(duration('--conntrack-tcp-timeout-established', raw.conntrackTcpEstablished, DEFAULTS.conntrackTcpEstablished, problems) / 1000),
      tcpCloseWait: Math.round(duration('--conntrack-tcp-timeout-close-wait', raw.conntrackTcpCloseWait, DEFAULTS.conntrackTcpCloseWait, problems) / 1000),
      udp: seconds('--conntrack-udp-timeout', raw.conntrackUdpTimeout),
      udpStream: seconds('--conntrack-udp-timeout-stream', raw.conntrackUdpStreamTimeout),
      tcpBeLiberal: raw.conntrackTcpBeLiberal ?? false,
    },
    oomScoreAdj: intInRange('--oom-score-adj', raw.oomScoreAdj, DEFAULTS.oomScoreAdj, -1000, 1000, problems),
    verbosity: intInRange('-v', raw.verbosity, 0, 0, 10, problems),
    loggingFormat: loggingFormat === 'text' ? 'text' : 'json',
    vmodule: vmodule(raw.vmodule, problems),
    metricsPerService: raw.metricsPerService ?? false,
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return opts;
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
