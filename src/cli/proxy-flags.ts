// kube-proxy's flags that shape the model, shared by `plan` and the daemon. Same names and
// spellings as kube-proxy (`--flag=value` and `--flag value`; bools also `--flag=false`).
import { readFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import type { RawProxyConfig } from '../compute/config.ts';

export class FlagError extends Error {
  readonly code = 'FLAG_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'FlagError';
  }
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
