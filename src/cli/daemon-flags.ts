// kube-proxy's command-line flags for IPVS mode on the root command (the daemon), on top of
// the flags shared with `plan`. Same names and spellings as kube-proxy.
import { Option, type Command } from 'commander';
import { DEFAULTS, appendPortIfNeeded, type RawDaemonOptions } from './daemon-options.ts';
import { addInertFlags } from './inert-flags.ts';
import { RULES_BACKENDS } from '../compute/model/nft.ts';
import { FlagError, addProxyFlags, parseBool, rawConfigFromFlags, type ProxyFlagValues } from './proxy-flags.ts';

const int = (flag: string) => (v: string): number => {
  if (!/^-?\d+$/.test(v)) throw new FlagError(`${flag}: "${v}" is not an integer`);
  return Number(v);
};

const bool = (cmd: Command, name: string, desc: string): Command =>
  cmd.addOption(new Option(`${name} [bool]`, desc).argParser(parseBool(name)));

export function addDaemonFlags(cmd: Command): Command {
  addProxyFlags(cmd)
    .option('--proxy-mode <mode>', 'only "ipvs" (the default here)')
    .option('--ipvs-sync-period <duration>', 'maximum interval between full resyncs (e.g. 30s, 1m0s)', undefined)
    .option('--ipvs-min-sync-period <duration>', 'minimum interval between syncs (0s: sync every change at once)')
    .option('--ipvs-tcp-timeout <duration>', 'IPVS idle TCP timeout (0: leave as is)')
    .option('--ipvs-tcpfin-timeout <duration>', 'IPVS TCP FIN_WAIT timeout (0: leave as is)')
    .option('--ipvs-udp-timeout <duration>', 'IPVS UDP timeout (0: leave as is)')
    .addOption(new Option('--ipvs-rules-backend <backend>', 'where the masquerade and filter rules live: iptables (kube-proxy\'s ipsets and KUBE-* chains, the default) or nftables (one table, inet kube-ipvs)').choices(RULES_BACKENDS))
    .option('--bind-address <ip>', 'the IP address kube-ipvs serves on (kube-proxy compatibility)')
    .option('--healthz-bind-address <ip:port>', 'where /healthz and /livez are served ("" disables)')
    .option('--metrics-bind-address <ip:port>', 'where /metrics is served ("" disables)')
    .option('--kubeconfig <file>', 'kubeconfig (default: in-cluster configuration)')
    .option('--master <url>', 'the API server address, overriding the kubeconfig')
    .addOption(new Option('--conntrack-max-per-core <n>', 'nf_conntrack_max per CPU core (0: leave as is)').argParser(int('--conntrack-max-per-core')))
    .addOption(new Option('--conntrack-min <n>', 'minimum nf_conntrack_max').argParser(int('--conntrack-min')))
    .option('--conntrack-tcp-timeout-established <duration>', 'idle timeout of established TCP connections (0: leave as is)')
    .option('--conntrack-tcp-timeout-close-wait <duration>', 'timeout of TCP connections in CLOSE_WAIT')
    .option('--conntrack-udp-timeout <duration>', 'idle timeout of UNREPLIED UDP flows (0: leave as is)')
    .option('--conntrack-udp-timeout-stream <duration>', 'idle timeout of ASSURED UDP flows (0: leave as is)');
  bool(cmd, '--conntrack-tcp-be-liberal', 'accept out-of-window TCP packets');
  cmd.addOption(new Option('--oom-score-adj <n>', 'the process oom_score_adj, in [-1000, 1000]').argParser(int('--oom-score-adj')))
    .option('--write-config-to <file>', 'write the effective configuration as a KubeProxyConfiguration and exit')
    .addOption(new Option('-v, --v <level>', 'log verbosity (0: info; 2+: debug; 5+: trace)').argParser(int('-v')))
    .option('--vmodule <pattern=N,...>', 'per-component verbosity: comma-separated component=level (components: proxier, events, cleanup, service-health; * and ? globs)')
    .addOption(new Option('--logging-format <format>', 'json (structured lines, the default) or text (klog-style lines, kube-proxy\'s default)').choices(['text', 'json']))
    .addOption(new Option('--healthz-port <port>', 'deprecated: the port of --healthz-bind-address (0 disables)').argParser(int('--healthz-port')))
    .addOption(new Option('--metrics-port <port>', 'deprecated: the port of --metrics-bind-address (0 disables)').argParser(int('--metrics-port')));
  cmd.addOption(new Option('--version [raw]', 'print the version and exit (--version=raw: details)').argParser((v: string | undefined) => {
    if (v === 'raw') return 'raw';
    return parseBool('--version')(v) ? 'short' : undefined;
  }));
  bool(cmd, '--init-only', 'do the steps that need full root privileges (conntrack sysctls), then exit');
  addInertFlags(cmd);
  bool(cmd, '--cleanup', 'remove everything kube-ipvs (or kube-proxy in IPVS mode) programmed, then exit');
  bool(cmd, '--cleanup-ipvs', 'kube-proxy\'s older name for --cleanup');
  bool(cmd, '--dry-run', 'run as usual but change nothing: log and export what would change');
  bool(cmd, '--metrics-per-service', 'export per-Service traffic series (kubeipvs_service_*: 5 series, ~0.5 KB of /metrics per Service port)');
  return cmd;
}

export interface DaemonFlagValues extends ProxyFlagValues {
  readonly proxyMode?: string;
  readonly ipvsSyncPeriod?: string;
  readonly ipvsMinSyncPeriod?: string;
  readonly ipvsTcpTimeout?: string;
  readonly ipvsTcpfinTimeout?: string;
  readonly ipvsUdpTimeout?: string;
  readonly ipvsRulesBackend?: string;
  readonly bindAddress?: string;
  readonly healthzBindAddress?: string;
  readonly metricsBindAddress?: string;
  readonly kubeconfig?: string;
  readonly master?: string;
  readonly conntrackMaxPerCore?: number;
  readonly conntrackMin?: number;
  readonly conntrackTcpTimeoutEstablished?: string;
  readonly conntrackTcpTimeoutCloseWait?: string;
  readonly conntrackUdpTimeout?: string;
  readonly conntrackUdpTimeoutStream?: string;
  readonly conntrackTcpBeLiberal?: boolean;
  readonly oomScoreAdj?: number;
  readonly writeConfigTo?: string;
  readonly v?: number;
  readonly vmodule?: string;
  readonly loggingFormat?: 'text' | 'json';
  readonly healthzPort?: number;
  readonly metricsPort?: number;
  readonly version?: 'short' | 'raw';
  readonly initOnly?: boolean;
  readonly cleanup?: boolean;
  readonly cleanupIpvs?: boolean;
  readonly dryRun?: boolean;
  readonly metricsPerService?: boolean;
}

/**
 * The deprecated --healthz-port/--metrics-port as kube-proxy applies them: 0 disables the
 * server; any other port is appended to an address given without one (an address with a port,
 * the default included, keeps it).
 */
function deprecatedPort(addr: string | undefined, port: number | undefined, fallback: string): string | undefined {
  if (port === undefined) return addr;
  if (port === 0) return '';
  return appendPortIfNeeded(addr ?? fallback, port);
}

export function rawDaemonOptions(o: DaemonFlagValues): RawDaemonOptions {
  return {
    ...rawConfigFromFlags(o),
    proxyMode: o.proxyMode,
    syncPeriod: o.ipvsSyncPeriod,
    minSyncPeriod: o.ipvsMinSyncPeriod,
    tcpTimeout: o.ipvsTcpTimeout,
    tcpFinTimeout: o.ipvsTcpfinTimeout,
    udpTimeout: o.ipvsUdpTimeout,
    rulesBackend: o.ipvsRulesBackend,
    bindAddress: o.bindAddress,
    healthzBindAddress: deprecatedPort(o.healthzBindAddress, o.healthzPort, DEFAULTS.healthzBindAddress),
    metricsBindAddress: deprecatedPort(o.metricsBindAddress, o.metricsPort, DEFAULTS.metricsBindAddress),
    kubeconfig: o.kubeconfig,
    master: o.master,
    conntrackMaxPerCore: o.conntrackMaxPerCore,
    conntrackMin: o.conntrackMin,
    conntrackTcpEstablished: o.conntrackTcpTimeoutEstablished,
    conntrackTcpCloseWait: o.conntrackTcpTimeoutCloseWait,
    conntrackUdpTimeout: o.conntrackUdpTimeout,
    conntrackUdpStreamTimeout: o.conntrackUdpTimeoutStream,
    conntrackTcpBeLiberal: o.conntrackTcpBeLiberal,
    oomScoreAdj: o.oomScoreAdj,
    verbosity: o.v,
    loggingFormat: o.loggingFormat,
    vmodule: o.vmodule,
    metricsPerService: o.metricsPerService,
  };
}
