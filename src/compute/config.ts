// The proxy's configuration as the model needs it, validated. Flag and file parsing
// (src/cli) produce a RawProxyConfig; `resolveConfig` checks it and reports every bad
// value naming its flag.
import { parseCidr, parseIp, type Cidr, type Ip } from './net/ip.ts';

/** IPVS schedulers of the Linux kernel (net/netfilter/ipvs/ip_vs_*.c). */
export const SCHEDULERS = [
  'rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh', 'twos',
] as const;
export type Scheduler = (typeof SCHEDULERS)[number];

/** Scheduler flags ipvsadm accepts with `-b`, by scheduler. */
export const SCHEDULER_FLAGS: Readonly<Partial<Record<Scheduler, readonly string[]>>> = {
  sh: ['sh-fallback', 'sh-port'],
  mh: ['mh-fallback', 'mh-port'],
};

/** kube-proxy's --detect-local-mode values: how traffic from this node's pods is told apart. */
export const LOCAL_MODES = ['ClusterCIDR', 'NodeCIDR', 'BridgeInterface', 'InterfaceNamePrefix'] as const;
export type LocalMode = (typeof LOCAL_MODES)[number];
const isLocalMode = (s: string): s is LocalMode => (LOCAL_MODES as readonly string[]).includes(s);

export const isScheduler = (s: string): s is Scheduler => (SCHEDULERS as readonly string[]).includes(s);

export interface ProxyConfig {
  readonly nodeName: string;
  /** Addresses on this node's interfaces (all but kube-ipvs0, loopback, IPv6 link-local). */
  readonly nodeAddresses: readonly Ip[];
  readonly scheduler: Scheduler;
  /** CIDRs NodePorts are served on; empty = every node address. `primary` = the Node's own IPs. */
  readonly nodePortAddresses: readonly Cidr[];
  readonly nodePortPrimary: boolean;
  readonly excludeCidrs: readonly Cidr[];
  readonly masqueradeAll: boolean;
  readonly clusterCidrs: readonly Cidr[];
  readonly strictArp: boolean;
  readonly masqueradeBit: number;
  readonly detectLocalMode: LocalMode;
  /** --pod-bridge-interface (BridgeInterface mode). */
  readonly bridgeInterface: string;
  /** --pod-interface-name-prefix (InterfaceNamePrefix mode). */
  readonly interfaceNamePrefix: string;
}

export interface RawProxyConfig {
  readonly hostnameOverride?: string | undefined;
  readonly nodeAddresses?: readonly string[] | undefined;
  readonly ipvsScheduler?: string | undefined;
  readonly nodePortAddresses?: readonly string[] | undefined;
  readonly ipvsExcludeCidrs?: readonly string[] | undefined;
  readonly masqueradeAll?: boolean | undefined;
  readonly clusterCidr?: string | undefined;
  readonly ipvsStrictArp?: boolean | undefined;
  readonly masqueradeBit?: number | undefined;
  readonly detectLocalMode?: string | undefined;
  readonly bridgeInterface?: string | undefined;
  readonly interfaceNamePrefix?: string | undefined;
}

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

const splitList = (values: readonly string[] | undefined): string[] =>
  (values ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');

function parseCidrs(flag: string, values: readonly string[], problems: string[]): Cidr[] {
  const out: Cidr[] = [];
  for (const v of values) {
    const c = parseCidr(v);
    if (c === undefined) problems.push(`${flag}: "${v}" is not a valid CIDR (e.g. 10.0.0.0/8 or fd00::/64)`);
    else out.push(c);
  }
  return out;
}

/** Validates every field; throws ConfigError listing all problems at once. */
export function resolveConfig(raw: RawProxyConfig, hostname: string): ProxyConfig {
  const problems: string[] = [];
  const scheduler = raw.ipvsScheduler === undefined || raw.ipvsScheduler === '' ? 'rr' : raw.ipvsScheduler;
  if (!isScheduler(scheduler)) {
    problems.push(`--ipvs-scheduler: "${scheduler}" is not an IPVS scheduler; valid: ${SCHEDULERS.join(', ')}`);
  }
  const nodeAddresses: Ip[] = [];
  for (const a of splitList(raw.nodeAddresses)) {
    const ip = parseIp(a);
    if (ip === undefined) problems.push(`--node-addresses: "${a}" is not a valid IP address`);
    else nodeAddresses.push(ip);
  }
  const npa = splitList(raw.nodePortAddresses);
  const nodePortPrimary = npa.includes('primary');
  if (nodePortPrimary && npa.length > 1) {
    problems.push('--nodeport-addresses: "primary" cannot be combined with CIDRs');
  }
  const nodePortAddresses = nodePortPrimary ? [] : parseCidrs('--nodeport-addresses', npa, problems);
  const excludeCidrs = parseCidrs('--ipvs-exclude-cidrs', splitList(raw.ipvsExcludeCidrs), problems);
  const clusterCidrs = parseCidrs('--cluster-cidr', splitList(raw.clusterCidr === undefined ? [] : [raw.clusterCidr]), problems);
  const masqueradeBit = raw.masqueradeBit ?? 14;
  if (!Number.isInteger(masqueradeBit) || masqueradeBit < 0 || masqueradeBit > 31) {
    problems.push(`--iptables-masquerade-bit: ${masqueradeBit} must be an integer in [0, 31]`);
  }
  // As kube-proxy on Linux: an empty mode is ClusterCIDR; the interface modes need their name.
  const detectLocalMode = raw.detectLocalMode === undefined || raw.detectLocalMode === '' ? 'ClusterCIDR' : raw.detectLocalMode;
  if (!isLocalMode(detectLocalMode)) problems.push(`--detect-local-mode: "${detectLocalMode}" is not a mode; valid: ${LOCAL_MODES.join(', ')}`);
  const bridgeInterface = (raw.bridgeInterface ?? '').trim();
  const interfaceNamePrefix = (raw.interfaceNamePrefix ?? '').trim();
  if (detectLocalMode === 'BridgeInterface' && bridgeInterface === '') problems.push('--pod-bridge-interface: must be set when --detect-local-mode is BridgeInterface');
  if (detectLocalMode === 'InterfaceNamePrefix' && interfaceNamePrefix === '') problems.push('--pod-interface-name-prefix: must be set when --detect-local-mode is InterfaceNamePrefix');
  for (const [flag, v] of [['--pod-bridge-interface', bridgeInterface], ['--pod-interface-name-prefix', interfaceNamePrefix]] as const) {
    // An interface name as the kernel takes it (IFNAMSIZ 16, no spaces or slashes): it goes into iptables rules.
    if (v !== '' && !/^[^\s/:]{1,15}$/.test(v)) problems.push(`${flag}: "${v}" is not an interface name (1-15 characters, no spaces, "/" or ":")`);
  }
  const nodeName = (raw.hostnameOverride ?? '').trim() || hostname;
  if (nodeName === '') problems.push('--hostname-override: the node name is empty');
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    nodeName: nodeName.toLowerCase(),
    nodeAddresses,
    scheduler: scheduler as Scheduler,
    nodePortAddresses,
    nodePortPrimary,
    excludeCidrs,
    masqueradeAll: raw.masqueradeAll ?? false,
    clusterCidrs,
    strictArp: raw.ipvsStrictArp ?? false,
    masqueradeBit,
    detectLocalMode: detectLocalMode as LocalMode,
    bridgeInterface,
    interfaceNamePrefix,
  };
}
