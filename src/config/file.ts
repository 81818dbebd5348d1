// `--config`: a KubeProxyConfiguration (kubeproxy.config.k8s.io/v1alpha1) as kubeadm writes it.
// As in kube-proxy, values from the file win over flags, except --hostname-override and -v.
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { ConfigError } from '../compute/config.ts';
import { parseDuration } from '../compute/duration.ts';
import { FlagError } from './flags.ts';
import type { RawDaemonOptions } from './merged.ts';

const API_VERSION = 'kubeproxy.config.k8s.io/v1alpha1';

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export type FileConfig = RawDaemonOptions;

type Scalar = 'string' | 'boolean' | 'number';
type ScalarOf<K extends Scalar> = K extends 'string' ? string : K extends 'boolean' ? boolean : number;

function field<K extends Scalar>(obj: Record<string, unknown>, key: string, type: K, path: string, problems: string[]): ScalarOf<K> | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== type) {
    problems.push(`${path}${key}: expected a ${type}, got ${JSON.stringify(v)}`);
    return undefined;
  }
  return v as ScalarOf<K>;
}

function stringList(obj: Record<string, unknown>, key: string, path: string, problems: string[]): string[] | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
    problems.push(`${path}${key}: expected a list of strings`);
    return undefined;
  }
  return v as string[];
}

// Fields kube-proxy has that cannot change what kube-ipvs does, with why; a warning names each
// one set to anything but its zero value or kube-proxy's default (kubeadm writes them all).
const INERT_FIELDS: Readonly<Record<string, { readonly why: string; readonly defaults?: readonly unknown[] }>> = {
  featureGates: { why: 'kube-ipvs has no feature gates' },
  'clientConnection.acceptContentTypes': { why: 'kube-ipvs always talks JSON' },
  'clientConnection.contentType': { why: 'kube-ipvs always talks JSON', defaults: ['application/vnd.kubernetes.protobuf', 'application/json'] },
  'clientConnection.qps': { why: 'kube-ipvs makes no client-side rate-limited requests', defaults: [5] },
  'clientConnection.burst': { why: 'kube-ipvs makes no client-side rate-limited requests', defaults: [10] },
  'logging.flushFrequency': { why: 'log lines are written at once', defaults: ['5s', 5_000_000_000] },
  'logging.options': { why: 'log lines are written at once, all to stderr' },
  bindAddressHardFail: { why: 'kube-ipvs retries a port in use and exits on any other bind error' },
  enableProfiling: { why: 'Go\'s /debug/pprof has no equivalent' },
  showHiddenMetricsForVersion: { why: 'kube-ipvs hides no metrics' },
  serviceProxyName: { why: 'kube-ipvs handles the Services without the service.kubernetes.io/service-proxy-name label, as kube-proxy by default' },
  'iptables.localhostNodePorts': { why: 'iptables mode only', defaults: [true] },
  'iptables.syncPeriod': { why: 'iptables mode only (use ipvs.syncPeriod)', defaults: ['30s'] },
  'iptables.minSyncPeriod': { why: 'iptables mode only (use ipvs.minSyncPeriod)', defaults: ['1s'] },
  nftables: { why: 'nftables mode only', defaults: [] },
  winkernel: { why: 'Windows only' },
  configSyncPeriod: { why: 'kube-ipvs\' informers have no periodic resync', defaults: ['15m0s'] },
  portRange: { why: 'the userspace proxy\'s, unused by kube-proxy too' },
};

/** Fields kube-ipvs implements: path → where it goes. */
const KNOWN = new Set([
  'apiVersion', 'kind', 'mode', 'bindAddress', 'healthzBindAddress', 'metricsBindAddress', 'hostnameOverride', 'clusterCIDR',
  'nodePortAddresses', 'oomScoreAdj', 'detectLocalMode', 'detectLocal.bridgeInterface', 'detectLocal.interfaceNamePrefix',
  'clientConnection.kubeconfig', 'logging.format', 'logging.verbosity', 'logging.vmodule',
  'iptables.masqueradeAll', 'iptables.masqueradeBit',
  'ipvs.syncPeriod', 'ipvs.minSyncPeriod', 'ipvs.scheduler', 'ipvs.excludeCIDRs', 'ipvs.strictARP', 'ipvs.tcpTimeout', 'ipvs.tcpFinTimeout', 'ipvs.udpTimeout',
  'conntrack.maxPerCore', 'conntrack.min', 'conntrack.tcpEstablishedTimeout', 'conntrack.tcpCloseWaitTimeout', 'conntrack.tcpBeLiberal',
  'conntrack.udpTimeout', 'conntrack.udpStreamTimeout',
  // kube-ipvs' own fields (not in kube-proxy's schema).
  'metricsPerService',
]);

const isZero = (v: unknown): boolean => v === null || v === undefined || v === '' || v === 0 || v === false || v === '0s' || v === '0' ||
  (Array.isArray(v) && v.length === 0) || (isRecord(v) && Object.values(v).every(isZero));

/** Every field the file sets that kube-ipvs does not implement: unknown, or inert and not at its default. */
function fieldWarnings(doc: Record<string, unknown>, file: string): string[] {
  const out: string[] = [];
  const walk = (obj: Record<string, unknown>, prefix: string): void => {
    for (const [k, v] of Object.entries(obj)) {
      const path = `${prefix}${k}`;
      if (KNOWN.has(path)) continue;
      const inert = INERT_FIELDS[path];
      if (inert !== undefined) {
        if (!isZero(v) && !(inert.defaults ?? []).some((d) => d === v)) out.push(`--config ${file}: ${path} has no effect in kube-ipvs: ${inert.why}`);
      } else if (isRecord(v) && [...KNOWN, ...Object.keys(INERT_FIELDS)].some((p) => p.startsWith(`${path}.`))) walk(v, `${path}.`);
      else out.push(`--config ${file}: ${path} is not a KubeProxyConfiguration field; ignored`);
    }
  };
  walk(doc, '');
  return out;
}

const API_VERSIONS = [API_VERSION];

export interface ConfigFileResult {
  readonly config: FileConfig;
  /** Unknown fields and inert fields set to something, each named. */
  readonly warnings: readonly string[];
}

/** kube-proxy's defaulting: an empty or zero value means "the default" (SetDefaults_KubeProxyConfiguration). */
const orDefault = <T>(v: T | undefined, zero: T): T | undefined => (v === zero ? undefined : v);

/** Parses the file's text; every problem is reported at once, naming the field. */
export function readConfigFile(text: string, file: string): ConfigFileResult {
  let doc: unknown;
  try {
    doc = parse(text, { prettyErrors: false });
  } catch (e) {
    throw new ConfigError([`--config ${file}: not valid YAML: ${e instanceof Error ? e.message : String(e)}`]);
  }
  const problems: string[] = [];
  if (!isRecord(doc)) throw new ConfigError([`--config ${file}: expected a KubeProxyConfiguration object`]);
  if (doc.kind !== 'KubeProxyConfiguration') problems.push(`kind: expected KubeProxyConfiguration, got ${JSON.stringify(doc.kind)}`);
  if (typeof doc.apiVersion !== 'string' || !API_VERSIONS.includes(doc.apiVersion)) {
    problems.push(`apiVersion: expected ${API_VERSIONS.join(' or ')}, got ${JSON.stringify(doc.apiVersion)}`);
  }
  const ipvs = isRecord(doc.ipvs) ? doc.ipvs : {};
  const iptables = isRecord(doc.iptables) ? doc.iptables : {};
  const conntrack = isRecord(doc.conntrack) ? doc.conntrack : {};
  const client = isRecord(doc.clientConnection) ? doc.clientConnection : {};
  const logging = isRecord(doc.logging) ? doc.logging : {};
  const detectLocal = isRecord(doc.detectLocal) ? doc.detectLocal : {};
  const cidr = field(doc, 'clusterCIDR', 'string', '', problems);
  const cfg: FileConfig = {
    proxyMode: orDefault(field(doc, 'mode', 'string', '', problems), ''),
    bindAddress: orDefault(field(doc, 'bindAddress', 'string', '', problems), ''),
    healthzBindAddress: orDefault(field(doc, 'healthzBindAddress', 'string', '', problems), ''),
    metricsBindAddress: orDefault(field(doc, 'metricsBindAddress', 'string', '', problems), ''),
    kubeconfig: orDefault(field(client, 'kubeconfig', 'string', 'clientConnection.', problems), ''),
    syncPeriod: zeroDuration(field(ipvs, 'syncPeriod', 'string', 'ipvs.', problems)),
    minSyncPeriod: field(ipvs, 'minSyncPeriod', 'string', 'ipvs.', problems),
    tcpTimeout: field(ipvs, 'tcpTimeout', 'string', 'ipvs.', problems),
    tcpFinTimeout: field(ipvs, 'tcpFinTimeout', 'string', 'ipvs.', problems),
    udpTimeout: field(ipvs, 'udpTimeout', 'string', 'ipvs.', problems),
    conntrackMaxPerCore: field(conntrack, 'maxPerCore', 'number', 'conntrack.', problems),
    conntrackMin: field(conntrack, 'min', 'number', 'conntrack.', problems),
    conntrackTcpEstablished: field(conntrack, 'tcpEstablishedTimeout', 'string', 'conntrack.', problems),
    conntrackTcpCloseWait: field(conntrack, 'tcpCloseWaitTimeout', 'string', 'conntrack.', problems),
    conntrackUdpTimeout: field(conntrack, 'udpTimeout', 'string', 'conntrack.', problems),
    conntrackUdpStreamTimeout: field(conntrack, 'udpStreamTimeout', 'string', 'conntrack.', problems),
    conntrackTcpBeLiberal: field(conntrack, 'tcpBeLiberal', 'boolean', 'conntrack.', problems),
    oomScoreAdj: field(doc, 'oomScoreAdj', 'number', '', problems),
    verbosity: field(logging, 'verbosity', 'number', 'logging.', problems),
    loggingFormat: orDefault(field(logging, 'format', 'string', 'logging.', problems), ''),
    vmodule: vmoduleField(logging, problems),
    hostnameOverride: orDefault(field(doc, 'hostnameOverride', 'string', '', problems), ''),
    ipvsScheduler: field(ipvs, 'scheduler', 'string', 'ipvs.', problems),
    ipvsExcludeCidrs: stringList(ipvs, 'excludeCIDRs', 'ipvs.', problems),
    ipvsStrictArp: field(ipvs, 'strictARP', 'boolean', 'ipvs.', problems),
    nodePortAddresses: stringList(doc, 'nodePortAddresses', '', problems),
    clusterCidr: orDefault(cidr, ''),
    masqueradeAll: field(iptables, 'masqueradeAll', 'boolean', 'iptables.', problems),
    masqueradeBit: field(iptables, 'masqueradeBit', 'number', 'iptables.', problems),
    detectLocalMode: orDefault(field(doc, 'detectLocalMode', 'string', '', problems), ''),
    bridgeInterface: field(detectLocal, 'bridgeInterface', 'string', 'detectLocal.', problems),
    interfaceNamePrefix: field(detectLocal, 'interfaceNamePrefix', 'string', 'detectLocal.', problems),
    // kube-ipvs' own field (not in kube-proxy's schema): --metrics-per-service.
    metricsPerService: field(doc, 'metricsPerService', 'boolean', '', problems),
  };
  if (problems.length > 0) throw new ConfigError(problems.map((p) => `--config ${file}: ${p}`));
  return { config: cfg, warnings: fieldWarnings(doc, file) };
}

/** ipvs.syncPeriod: 0s (kubeadm writes it) means kube-proxy's default, 30s. */
function zeroDuration(v: string | undefined): string | undefined {
  return v === undefined || parseDuration(v) === 0 ? undefined : v;
}

/** logging.vmodule: a list of {filePattern, verbosity}, as the --vmodule text. */
function vmoduleField(logging: Record<string, unknown>, problems: string[]): string | undefined {
  const v = logging.vmodule;
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || !v.every((i) => isRecord(i) && typeof i.filePattern === 'string' && typeof i.verbosity === 'number')) {
    problems.push('logging.vmodule: expected a list of {filePattern: string, verbosity: number}');
    return undefined;
  }
  return (v as { filePattern: string; verbosity: number }[]).map((i) => `${i.filePattern}=${i.verbosity}`).join(',') || undefined;
}

/** The file's values only (tests and callers that do not report warnings). */
export function parseConfigFile(text: string, file: string): FileConfig {
  return readConfigFile(text, file).config;
}

const FLAG_NAMES: Readonly<Partial<Record<keyof RawDaemonOptions, string>>> = {
  ipvsScheduler: '--ipvs-scheduler', nodePortAddresses: '--nodeport-addresses', ipvsExcludeCidrs: '--ipvs-exclude-cidrs',
  masqueradeAll: '--masquerade-all', clusterCidr: '--cluster-cidr', ipvsStrictArp: '--ipvs-strict-arp',
  masqueradeBit: '--iptables-masquerade-bit', proxyMode: '--proxy-mode', syncPeriod: '--ipvs-sync-period',
  minSyncPeriod: '--ipvs-min-sync-period', tcpTimeout: '--ipvs-tcp-timeout', tcpFinTimeout: '--ipvs-tcpfin-timeout',
  udpTimeout: '--ipvs-udp-timeout', bindAddress: '--bind-address', healthzBindAddress: '--healthz-bind-address',
  metricsBindAddress: '--metrics-bind-address', kubeconfig: '--kubeconfig', conntrackMaxPerCore: '--conntrack-max-per-core',
  conntrackMin: '--conntrack-min', conntrackTcpEstablished: '--conntrack-tcp-timeout-established',
  conntrackTcpCloseWait: '--conntrack-tcp-timeout-close-wait', conntrackUdpTimeout: '--conntrack-udp-timeout',
  conntrackUdpStreamTimeout: '--conntrack-udp-timeout-stream', conntrackTcpBeLiberal: '--conntrack-tcp-be-liberal',
  oomScoreAdj: '--oom-score-adj', detectLocalMode: '--detect-local-mode', bridgeInterface: '--pod-bridge-interface',
  interfaceNamePrefix: '--pod-interface-name-prefix', metricsPerService: '--metrics-per-service',
};

/** Flags that a --config file overrides (kube-proxy ignores them when --config is given). */
export function ignoredFlags(flags: RawDaemonOptions): string[] {
  return Object.entries(FLAG_NAMES).filter(([k]) => flags[k as keyof RawDaemonOptions] !== undefined).map(([, flag]) => flag);
}

/**
 * kube-proxy's precedence: the file's values, but explicit --hostname-override and the logging
 * flags (-v, --logging-format; --vmodule entries are added) win, and --master, which has no field
 * in the file.
 */
export function mergeFileConfig<T extends RawDaemonOptions>(flags: T, file: FileConfig | undefined): T {
  if (file === undefined) return flags;
  const defined = Object.fromEntries(Object.entries(file).filter(([, v]) => v !== undefined)) as FileConfig;
  return {
    ...defined,
    hostnameOverride: flags.hostnameOverride ?? file.hostnameOverride,
    verbosity: flags.verbosity ?? file.verbosity,
    loggingFormat: flags.loggingFormat ?? file.loggingFormat,
    vmodule: [flags.vmodule, file.vmodule].filter((v) => v !== undefined).join(',') || undefined,
    master: flags.master,
    nodeAddresses: flags.nodeAddresses,
  } as T;
}

/** A file named by a flag (`-f`, `--config`); unreadable → a usage error naming it. */
export async function readInput(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    const code = e instanceof Error && 'code' in e && typeof e.code === 'string' ? e.code : 'error';
    throw new FlagError(`cannot read ${path}: ${code}`);
  }
}
