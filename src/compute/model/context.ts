// What rendering needs to know about this node, derived once per config/Node change.
import type { ProxyConfig } from '../config.ts';
import { ZONE_LABEL, type Node } from '../k8s/objects.ts';
import {
  cidrContains, ipFromValue, isIpv6LinkLocal, isLoopback, parseCidr, parseIp, type Cidr, type Family, type Ip,
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
  /**
   * The node IP per family, one of each, as kube-proxy's detectNodeIPs: the Node object's, or
   * the loopback address for a family the Node object lacks (LB source ranges: may the node
   * itself reach the VIP? `--nodeport-addresses primary`).
   */
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

/** The Node's own addresses, InternalIPs then ExternalIPs, as kube-proxy's GetNodeHostIPs orders them. */
function nodeObjectIps(node: Node | undefined): Ip[] {
  const addrs = node?.status?.addresses ?? [];
  const ordered = [...addrs.filter((a) => a.type === 'InternalIP'), ...addrs.filter((a) => a.type === 'ExternalIP')];
  return ordered.map((a) => parseIp(a.address ?? '')).filter((ip): ip is Ip => ip !== undefined);
}

const LOOPBACK: Readonly<Record<Family, Ip>> = { 4: ipFromValue(4, 0x7f000001n), 6: ipFromValue(6, 1n) };

/**
 * kube-proxy's detectNodeIPs (cmd/kube-proxy/app/server.go): per family the first address of
 * that family on the Node object, else the loopback address. Never an interface address: the
 * node IP is what the cluster knows the node by, and a family the Node object lacks has none.
 */
export function primaryIpsOf(node: Node | undefined): Ip[] {
  const ips = nodeObjectIps(node);
  return ([4, 6] as const).map((f) => ips.find((ip) => ip.family === f) ?? LOOPBACK[f]);
}

function nodePortIpsOf(config: ProxyConfig, primary: readonly Ip[]): Ip[] {
  const usable = config.nodeAddresses.filter((ip) => !isLoopback(ip) && !isIpv6LinkLocal(ip));
  return ([4, 6] as const).flatMap((f) => {
    const ofFamily = usable.filter((ip) => ip.family === f);
    if (config.nodePortPrimary) {
      // `primary` is the node IP's /32 or /128; a loopback node IP gives that family no CIDR,
      // and a family without CIDRs matches every address (kube-proxy's server.go).
      const ip = primary.find((p) => p.family === f);
      return ip === undefined || isLoopback(ip) ? ofFamily : ofFamily.filter((a) => a.text === ip.text);
    }
    const cidrs = config.nodePortAddresses.filter((c) => c.ip.family === f);
    // No CIDR of this family (or a /0) means every address of the family.
    if (cidrs.length === 0 || cidrs.some((c) => c.prefix === 0)) return ofFamily;
    return ofFamily.filter((ip) => cidrs.some((c) => cidrContains(c, ip)));
  });
}

export function buildContext(config: ProxyConfig, node: Node | undefined, families: readonly Family[] = [4, 6]): RenderContext {
  const primaryIps = primaryIpsOf(node);
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
