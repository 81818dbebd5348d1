// The command line, kube-proxy's flags with kube-proxy's names and spellings (`--flag=value`
// and `--flag value`; bools also `--flag=false`; pflag's `_` and `-v=2`): the flags that shape
// the model (shared by `plan` and the daemon), the daemon's own, and the ones accepted for
// compatibility but without effect (INERT_FLAGS). Flags → RawDaemonOptions; the file is
// file.ts, the merge and its validation merged.ts.
import { Command, Option } from 'commander';
import type { RawProxyConfig } from '../compute/config.ts';
import { parseDuration } from '../compute/duration.ts';
import { DEFAULTS, appendPortIfNeeded, type RawDaemonOptions } from './merged.ts';

export class FlagError extends Error {
  readonly code = 'FLAG_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'FlagError';
  }
}

/** pflag-style boolean: `--x`, `--x=true`, `--x=false`. */
export function parseBool(flag: string): (v: string | undefined) => boolean {
  return (v) => {
    if (v === undefined || v === '' || v === 'true' || v === '1' || v === 'True' || v === 'TRUE') return true;
    if (v === 'false' || v === '0' || v === 'False' || v === 'FALSE') return false;
    throw new FlagError(`${flag}: "${v}" is not a boolean (true or false)`);
  };
}

const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];

export function addProxyFlags(cmd: Command): Command {
  return cmd
    .option('--hostname-override <name>', "the node's name, instead of the hostname")
    .option('--ipvs-scheduler <name>', 'IPVS scheduler: rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh, twos (default "rr")')
    .option('--nodeport-addresses <cidrs>', 'CIDRs (comma-separated, repeatable) whose node addresses serve NodePorts, or "primary"', collect)
    .option('--ipvs-exclude-cidrs <cidrs>', 'CIDRs (comma-separated) whose IPVS services are never touched when cleaning up', collect)
    .addOption(new Option('--masquerade-all [bool]', 'SNAT all traffic sent to ClusterIPs').argParser(parseBool('--masquerade-all')))
    .option('--cluster-cidr <cidrs>', 'the pod network CIDR(s), comma-separated per family; traffic from outside it to ClusterIPs is masqueraded')
    .addOption(new Option('--ipvs-strict-arp [bool]', 'set arp_ignore=1 and arp_announce=2 (needed by MetalLB L2)').argParser(parseBool('--ipvs-strict-arp')))
    .addOption(new Option('--iptables-masquerade-bit <bit>', 'the fwmark bit for packets to SNAT, in [0, 31]').argParser((v) => Number(v)))
    .option('--detect-local-mode <mode>', 'how traffic from pods is told apart (not masqueraded to ClusterIPs): ClusterCIDR (default), NodeCIDR, BridgeInterface, InterfaceNamePrefix')
    .option('--pod-bridge-interface <name>', 'the pods\' bridge (--detect-local-mode=BridgeInterface)')
    .option('--pod-interface-name-prefix <prefix>', 'the prefix of pod interfaces (--detect-local-mode=InterfaceNamePrefix)')
    .option('--config <file>', 'a KubeProxyConfiguration file; its values win over flags except --hostname-override');
}

export interface ProxyFlagValues {
  readonly hostnameOverride?: string;
  readonly ipvsScheduler?: string;
  readonly nodeportAddresses?: string[];
  readonly ipvsExcludeCidrs?: string[];
  readonly masqueradeAll?: boolean;
  readonly clusterCidr?: string;
  readonly ipvsStrictArp?: boolean;
  readonly iptablesMasqueradeBit?: number;
  readonly config?: string;
  readonly detectLocalMode?: string;
  readonly podBridgeInterface?: string;
  readonly podInterfaceNamePrefix?: string;
}

export function rawConfigFromFlags(o: ProxyFlagValues, nodeAddresses?: readonly string[]): RawProxyConfig {
  return {
    hostnameOverride: o.hostnameOverride,
    ipvsScheduler: o.ipvsScheduler,
    nodePortAddresses: o.nodeportAddresses,
    ipvsExcludeCidrs: o.ipvsExcludeCidrs,
    masqueradeAll: o.masqueradeAll,
    clusterCidr: o.clusterCidr,
    ipvsStrictArp: o.ipvsStrictArp,
    masqueradeBit: o.iptablesMasqueradeBit,
    detectLocalMode: o.detectLocalMode,
    bridgeInterface: o.podBridgeInterface,
    interfaceNamePrefix: o.podInterfaceNamePrefix,
    nodeAddresses,
  };
}

// kube-proxy flags that kube-ipvs accepts (so kubeadm, kops, kubespray and systemd units keep
// working) but that cannot change what it does. Each given one gets one warning at start, saying
// why. Adding a flag here is the whole change: it is registered, parsed and warned about from
// this table (the flags kube-ipvs implements are the others in this file).
export type InertValue = 'string' | 'bool' | 'int' | 'float' | 'duration' | 'map';

export interface InertFlag {
  readonly flag: string;
  readonly value: InertValue;
  readonly why: string;
}

const IPVS_MODE = 'kube-proxy uses it only in iptables mode; kube-ipvs is IPVS mode (use the --ipvs-* flag)';

export const INERT_FLAGS: readonly InertFlag[] = [
  { flag: '--iptables-sync-period', value: 'duration', why: IPVS_MODE },
  { flag: '--iptables-min-sync-period', value: 'duration', why: IPVS_MODE },
  { flag: '--iptables-localhost-nodeports', value: 'bool', why: 'kube-proxy applies it only in iptables mode; in IPVS mode NodePorts are never reachable on localhost' },
  { flag: '--config-sync-period', value: 'duration', why: 'kube-ipvs\' informers have no periodic resync; the full resync every --ipvs-sync-period re-reads the kernel instead' },
  { flag: '--kube-api-qps', value: 'float', why: 'kube-ipvs makes no client-side rate-limited requests: one list and watch per resource, and a few Events' },
  { flag: '--kube-api-burst', value: 'int', why: 'kube-ipvs makes no client-side rate-limited requests: one list and watch per resource, and a few Events' },
  { flag: '--kube-api-content-type', value: 'string', why: 'kube-ipvs always talks JSON to the API server (its client has no protobuf)' },
  { flag: '--feature-gates', value: 'map', why: 'kube-ipvs has no feature gates: every behaviour it implements is always on' },
  { flag: '--bind-address-hard-fail', value: 'bool', why: 'kube-ipvs retries a health or metrics port in use (proxying goes on) and exits on any other bind error, whatever this says' },
  { flag: '--profiling', value: 'bool', why: 'Go\'s /debug/pprof has no equivalent in kube-ipvs (use node --inspect or --cpu-prof)' },
  { flag: '--show-hidden-metrics-for-version', value: 'string', why: 'kube-ipvs hides no deprecated metrics' },
  { flag: '--log-flush-frequency', value: 'duration', why: 'kube-ipvs writes each log line at once; there is no buffer to flush' },
  { flag: '--log-text-split-stream', value: 'bool', why: 'all log lines go to stderr' },
  { flag: '--log-text-info-buffer-size', value: 'string', why: 'kube-ipvs writes each log line at once; there is no buffer' },
  { flag: '--log-json-split-stream', value: 'bool', why: 'all log lines go to stderr' },
  { flag: '--log-json-info-buffer-size', value: 'string', why: 'kube-ipvs writes each log line at once; there is no buffer' },
  { flag: '--boot-id-file', value: 'string', why: 'a Go library flag kube-proxy registers but never reads' },
  { flag: '--machine-id-file', value: 'string', why: 'a Go library flag kube-proxy registers but never reads' },
];

/** The one warning a given inert flag gets. */
export const inertWarning = (f: InertFlag): string => `${f.flag} has no effect in kube-ipvs: ${f.why}`;

/** Commander's attribute name of a long flag: --kube-api-qps → kubeApiQps. */
export const attributeOf = (flag: string): string => flag.replace(/^--/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

function parser(f: InertFlag): (v: string) => unknown {
  const bad = (v: string, what: string): FlagError => new FlagError(`${f.flag}: "${v}" is not ${what}`);
  switch (f.value) {
    case 'string': return (v) => v;
    case 'bool': return parseBool(f.flag);
    case 'int': return (v) => { if (!/^-?\d+$/.test(v)) throw bad(v, 'an integer'); return Number(v); };
    case 'float': return (v) => { if (v.trim() === '' || !Number.isFinite(Number(v))) throw bad(v, 'a number'); return Number(v); };
    case 'duration': return (v) => { if (parseDuration(v) === undefined) throw bad(v, 'a duration (e.g. 30s, 1m0s)'); return v; };
    case 'map': return (v) => {
      // pflag's mapStringBool: key=bool pairs, comma-separated.
      for (const kv of v.split(',').filter((s) => s.trim() !== '')) {
        const [k = '', b = ''] = kv.split('=');
        if (k.trim() === '' || !/^(true|false)$/i.test(b.trim())) throw bad(v, 'a list of key=true|false pairs');
      }
      return v;
    };
  }
}

export function addInertFlags(cmd: Command): Command {
  for (const f of INERT_FLAGS) {
    cmd.addOption(new Option(f.value === 'bool' ? `${f.flag} [bool]` : `${f.flag} <value>`, `accepted for kube-proxy compatibility; no effect: ${f.why}`)
      .argParser(parser(f)));
  }
  return cmd;
}

/** One warning per inert flag given on the command line. */
export function inertWarnings(opts: object): string[] {
  const given = new Set(Object.entries(opts).filter(([, v]) => v !== undefined).map(([k]) => k));
  return INERT_FLAGS.filter((f) => given.has(attributeOf(f.flag))).map(inertWarning);
}

// kube-proxy's command-line flags for IPVS mode on the root command (the daemon), on top of
// the flags shared with `plan`. Same names and spellings as kube-proxy.
const intFlag = (flag: string) => (v: string): number => {
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
    .option('--bind-address <ip>', 'the IP address kube-ipvs serves on (kube-proxy compatibility)')
    .option('--healthz-bind-address <ip:port>', 'where /healthz and /livez are served ("" disables)')
    .option('--metrics-bind-address <ip:port>', 'where /metrics is served ("" disables)')
    .option('--kubeconfig <file>', 'kubeconfig (default: in-cluster configuration)')
    .option('--master <url>', 'the API server address, overriding the kubeconfig')
    .addOption(new Option('--conntrack-max-per-core <n>', 'nf_conntrack_max per CPU core (0: leave as is)').argParser(intFlag('--conntrack-max-per-core')))
    .addOption(new Option('--conntrack-min <n>', 'minimum nf_conntrack_max').argParser(intFlag('--conntrack-min')))
    .option('--conntrack-tcp-timeout-established <duration>', 'idle timeout of established TCP connections (0: leave as is)')
    .option('--conntrack-tcp-timeout-close-wait <duration>', 'timeout of TCP connections in CLOSE_WAIT')
    .option('--conntrack-udp-timeout <duration>', 'idle timeout of UNREPLIED UDP flows (0: leave as is)')
    .option('--conntrack-udp-timeout-stream <duration>', 'idle timeout of ASSURED UDP flows (0: leave as is)');
  bool(cmd, '--conntrack-tcp-be-liberal', 'accept out-of-window TCP packets');
  cmd.addOption(new Option('--oom-score-adj <n>', 'the process oom_score_adj, in [-1000, 1000]').argParser(intFlag('--oom-score-adj')))
    .option('--write-config-to <file>', 'write the effective configuration as a KubeProxyConfiguration and exit')
    .addOption(new Option('-v, --v <level>', 'log verbosity (0: info; 2+: debug; 5+: trace)').argParser(intFlag('-v')))
    .option('--vmodule <pattern=N,...>', 'per-component verbosity: comma-separated component=level (components: proxier, events, cleanup, service-health; * and ? globs)')
    .addOption(new Option('--logging-format <format>', 'json (structured lines, the default) or text (klog-style lines, kube-proxy\'s default)').choices(['text', 'json']))
    .addOption(new Option('--healthz-port <port>', 'deprecated: the port of --healthz-bind-address (0 disables)').argParser(intFlag('--healthz-port')))
    .addOption(new Option('--metrics-port <port>', 'deprecated: the port of --metrics-bind-address (0 disables)').argParser(intFlag('--metrics-port')));
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

/**
 * pflag spellings commander does not take as they are: `-v=2` (a short flag with `=`) and
 * `--hostname_override` (pflag's word-separator normalisation, `_` → `-`). Stops at `--`.
 */
export function normalizeArgv(argv: readonly string[]): string[] {
  const end = argv.indexOf('--');
  return argv.map((a, i) => {
    if (end !== -1 && i >= end) return a;
    if (a.startsWith('-v=')) return `--v=${a.slice(3)}`;
    const m = /^(--[^=]+)(=.*)?$/s.exec(a);
    return m === null ? a : `${(m[1] ?? '').replaceAll('_', '-')}${m[2] ?? ''}`;
  });
}

// The daemon's command line parsed exactly as `kube-ipvs` parses it, without running anything:
// for checking a DaemonSet's arguments (test/deploy) before they reach a node.
/**
 * Parses kube-proxy-style daemon flags (`--flag=value` or `--flag value`) into the values the
 * daemon receives. Throws commander's error for an unknown flag or a stray argument, and
 * FlagError for a bad boolean or integer, as `kube-ipvs` itself would.
 */
export function parseDaemonArgs(argv: readonly string[]): DaemonFlagValues {
  const program = addDaemonFlags(new Command('kube-ipvs'))
    .exitOverride()
    .configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
  program.parse(normalizeArgv(argv), { from: 'user' });
  return program.opts<DaemonFlagValues>();
}
