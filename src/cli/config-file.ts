// `--config`: a KubeProxyConfiguration (kubeproxy.config.k8s.io/v1alpha1) as kubeadm writes it.
// As in kube-proxy, values from the file win over flags, except --hostname-override and -v.
import { parse } from 'yaml';
import type { RawProxyConfig } from '../compute/config.ts';
import { ConfigError } from '../compute/config.ts';

const API_VERSION = 'kubeproxy.config.k8s.io/v1alpha1';

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface FileConfig extends RawProxyConfig {
  readonly mode?: string | undefined;
}

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
  const cfg: FileConfig = {
    mode: field(doc, 'mode', 'string', '', problems),
    hostnameOverride: field(doc, 'hostnameOverride', 'string', '', problems),
    ipvsScheduler: field(ipvs, 'scheduler', 'string', 'ipvs.', problems),
    ipvsExcludeCidrs: stringList(ipvs, 'excludeCIDRs', 'ipvs.', problems),
    ipvsStrictArp: field(ipvs, 'strictARP', 'boolean', 'ipvs.', problems),
    nodePortAddresses: stringList(doc, 'nodePortAddresses', '', problems),
    clusterCidr: field(doc, 'clusterCIDR', 'string', '', problems),
    masqueradeAll: field(iptables, 'masqueradeAll', 'boolean', 'iptables.', problems),
    masqueradeBit: field(iptables, 'masqueradeBit', 'number', 'iptables.', problems),
  };
  if (problems.length > 0) throw new ConfigError(problems.map((p) => `--config ${file}: ${p}`));
  return cfg;
}

/** Flags that a --config file overrides (kube-proxy ignores them when --config is given). */
export function ignoredFlags(flags: RawProxyConfig): string[] {
  const names: Partial<Record<keyof RawProxyConfig, string>> = {
    ipvsScheduler: '--ipvs-scheduler', nodePortAddresses: '--nodeport-addresses', ipvsExcludeCidrs: '--ipvs-exclude-cidrs',
    masqueradeAll: '--masquerade-all', clusterCidr: '--cluster-cidr', ipvsStrictArp: '--ipvs-strict-arp',
    masqueradeBit: '--iptables-masquerade-bit',
  };
  return Object.entries(names).filter(([k]) => flags[k as keyof RawProxyConfig] !== undefined).map(([, flag]) => flag);
}

/** kube-proxy's precedence: the file's values, but an explicit --hostname-override wins. */
export function mergeFileConfig(flags: RawProxyConfig, file: FileConfig | undefined): RawProxyConfig {
  if (file === undefined) return flags;
  const defined = Object.fromEntries(Object.entries(file).filter(([, v]) => v !== undefined)) as FileConfig;
  return {
    ...defined,
    hostnameOverride: flags.hostnameOverride ?? file.hostnameOverride,
    nodeAddresses: flags.nodeAddresses,
  };
}
