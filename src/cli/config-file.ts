// `--config`: a KubeProxyConfiguration (kubeproxy.config.k8s.io/v1alpha1) as kubeadm writes it.
// As in kube-proxy, values from the file win over flags, except --hostname-override and -v.
import { parse } from 'yaml';
import { ConfigError } from '../compute/config.ts';
import type { RawDaemonOptions } from './daemon-options.ts';

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

/** Parses the file's text; every problem is reported at once, naming the field. */
export function parseConfigFile(text: string, file: string): FileConfig {
  let doc: unknown;
  try {
    doc = parse(text, { prettyErrors: false });
  } catch (e) {
    throw new ConfigError([`--config ${file}: not valid YAML: ${e instanceof Error ? e.message : String(e)}`]);
  }
  const problems: string[] = [];
  if (!isRecord(doc)) throw new ConfigError([`--config ${file}: expected a KubeProxyConfiguration object`]);
  if (doc.kind !== 'KubeProxyConfiguration') problems.push(`kind: expected KubeProxyConfiguration, got ${JSON.stringify(doc.kind)}`);
  if (doc.apiVersion !== API_VERSION) problems.push(`apiVersion: expected ${API_VERSION}, got ${JSON.stringify(doc.apiVersion)}`);
  const ipvs = isRecord(doc.ipvs) ? doc.ipvs : {};
  const iptables = isRecord(doc.iptables) ? doc.iptables : {};
  const conntrack = isRecord(doc.conntrack) ? doc.conntrack : {};
  const client = isRecord(doc.clientConnection) ? doc.clientConnection : {};
  const logging = isRecord(doc.logging) ? doc.logging : {};
  const cfg: FileConfig = {
    proxyMode: field(doc, 'mode', 'string', '', problems),
    bindAddress: field(doc, 'bindAddress', 'string', '', problems),
    healthzBindAddress: field(doc, 'healthzBindAddress', 'string', '', problems),
    metricsBindAddress: field(doc, 'metricsBindAddress', 'string', '', problems),
    kubeconfig: field(client, 'kubeconfig', 'string', 'clientConnection.', problems),
    syncPeriod: field(ipvs, 'syncPeriod', 'string', 'ipvs.', problems),
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
    hostnameOverride: field(doc, 'hostnameOverride', 'string', '', problems),
    ipvsScheduler: field(ipvs, 'scheduler', 'string', 'ipvs.', problems),
    ipvsExcludeCidrs: stringList(ipvs, 'excludeCIDRs', 'ipvs.', problems),
    ipvsStrictArp: field(ipvs, 'strictARP', 'boolean', 'ipvs.', problems),
    nodePortAddresses: stringList(doc, 'nodePortAddresses', '', problems),
    clusterCidr: field(doc, 'clusterCIDR', 'string', '', problems),
    masqueradeAll: field(iptables, 'masqueradeAll', 'boolean', 'iptables.', problems),
    masqueradeBit: field(iptables, 'masqueradeBit', 'number', 'iptables.', problems),
    // kube-ipvs' own field (not in kube-proxy's schema): --metrics-per-service.
    metricsPerService: field(doc, 'metricsPerService', 'boolean', '', problems),
  };
  if (problems.length > 0) throw new ConfigError(problems.map((p) => `--config ${file}: ${p}`));
  return cfg;
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
  oomScoreAdj: '--oom-score-adj', metricsPerService: '--metrics-per-service',
};

/** Flags that a --config file overrides (kube-proxy ignores them when --config is given). */
export function ignoredFlags(flags: RawDaemonOptions): string[] {
  return Object.entries(FLAG_NAMES).filter(([k]) => flags[k as keyof RawDaemonOptions] !== undefined).map(([, flag]) => flag);
}

/**
 * kube-proxy's precedence: the file's values, but explicit --hostname-override and -v win
 * (and --master, which has no field in the file).
 */
export function mergeFileConfig<T extends RawDaemonOptions>(flags: T, file: FileConfig | undefined): T {
  if (file === undefined) return flags;
  const defined = Object.fromEntries(Object.entries(file).filter(([, v]) => v !== undefined)) as FileConfig;
  return {
    ...defined,
    hostnameOverride: flags.hostnameOverride ?? file.hostnameOverride,
    verbosity: flags.verbosity ?? file.verbosity,
    master: flags.master,
    nodeAddresses: flags.nodeAddresses,
  } as T;
}
