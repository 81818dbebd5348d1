// What rendering needs to know about this node, derived once per config/Node change.
import type { ProxyConfig } from '../config.ts';
import { ZONE_LABEL, type Node } from '../k8s/objects.ts';
import {
  cidrContains, isIpv6LinkLocal, isLoopback, parseCidr, parseIp, type Cidr, type Family, type Ip,
} from '../net/ip.ts';
import type { LocalTraffic } from './iptables.ts';
import type { NodeTopology } from './topology.ts';

export interface RenderContext {
  /** IP families proxied (kube-proxy runs one proxier per family on a dual-stack-capable host). */
  readonly families: readonly Family[];
  readonly node: NodeTopology;
  /** Addresses NodePort virtual servers are created on. */
  readonly nodePortIps: readonly Ip[];
  /** Every node address (text), to decide which external/LB IPs need binding. */
  readonly nodeAddressTexts: ReadonlySet<string>;
  /** The node's primary IP per family (LB source ranges: may the node itself reach the VIP?). */
  readonly primaryIps: readonly Ip[];
  /** Local-traffic detection per family (--detect-local-mode); absent: cannot tell. */
  readonly localTraffic: ReadonlyMap<Family, LocalTraffic>;
  readonly config: ProxyConfig;
}

/** The Node's pod CIDRs (spec.podCIDRs, or the older spec.podCIDR), unparsable ones skipped. */
function podCidrsOf(node: Node | undefined): Cidr[] {
  const texts = node?.spec?.podCIDRs ?? (node?.spec?.podCIDR === undefined ? [] : [node.spec.podCIDR]);
  return texts.map(parseCidr).filter((c) => c !== undefined);
}

function localTrafficOf(config: ProxyConfig, node: Node | undefined, families: readonly Family[]): Map<Family, LocalTraffic> {
  const out = new Map<Family, LocalTraffic>();
  for (const f of families) {
    switch (config.detectLocalMode) {
      case 'ClusterCIDR':
      case 'NodeCIDR': {
        const cidrs = config.detectLocalMode === 'ClusterCIDR' ? config.clusterCidrs : podCidrsOf(node);
        const source = cidrs.find((c) => c.ip.family === f);
        if (source !== undefined) out.set(f, { source });
        break;
      }
      case 'BridgeInterface': out.set(f, { inInterface: config.bridgeInterface }); break;
      case 'InterfaceNamePrefix': out.set(f, { inInterface: `${config.interfaceNamePrefix}+` }); break;
      default: { const never: never = config.detectLocalMode; throw new Error(`unknown local mode ${String(never)}`); }
    }
  }
  return out;
}

/** The Node's own addresses, InternalIP first, as kube-proxy's node IP detection prefers. */
function nodeObjectIps(node: Node | undefined): Ip[] {
  const addrs = node?.status?.addresses ?? [];
  const ordered = [...addrs.filter((a) => a.type === 'InternalIP'), ...addrs.filter((a) => a.type === 'ExternalIP')];
  return ordered.map((a) => parseIp(a.address ?? '')).filter((ip): ip is Ip => ip !== undefined);
}

export function primaryIpsOf(config: ProxyConfig, node: Node | undefined): Ip[] {
  const candidates = [...nodeObjectIps(node), ...config.nodeAddresses].filter((ip) => !isLoopback(ip));
  return ([4, 6] as const)
    .map((f) => candidates.find((ip) => ip.family === f))
    .filter((ip): ip is Ip => ip !== undefined);
}

function nodePortIpsOf(config: ProxyConfig, primary: readonly Ip[]): Ip[] {
  const usable = config.nodeAddresses.filter((ip) => !isLoopback(ip) && !isIpv6LinkLocal(ip));
  if (config.nodePortPrimary) return [...primary];
  return ([4, 6] as const).flatMap((f) => {
    const cidrs = config.nodePortAddresses.filter((c) => c.ip.family === f);
    const ofFamily = usable.filter((ip) => ip.family === f);
    // No CIDR of this family (or a /0) means every address of the family.
    if (cidrs.length === 0 || cidrs.some((c) => c.prefix === 0)) return ofFamily;
    return ofFamily.filter((ip) => cidrs.some((c) => cidrContains(c, ip)));
  });
}

export function buildContext(config: ProxyConfig, node: Node | undefined, families: readonly Family[] = [4, 6]): RenderContext {
  const primaryIps = primaryIpsOf(config, node);
  return {
    families,
    node: { nodeName: config.nodeName, zone: node?.metadata?.labels?.[ZONE_LABEL] ?? '' },
    nodePortIps: nodePortIpsOf(config, primaryIps),
    nodeAddressTexts: new Set(config.nodeAddresses.map((ip) => ip.text)),
    primaryIps,
    localTraffic: localTrafficOf(config, node, families),
    config,
  };
}
