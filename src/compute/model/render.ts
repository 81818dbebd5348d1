// One Service → its share of the kernel state: virtual servers, kube-ipvs0 addresses and
// ipset members, per IP family (kube-proxy: pkg/proxy/ipvs/proxier.go syncProxyRules).
// Per-Service rendering lets a sync re-render only the Services that changed.
import { cidrContains, isLoopback, type Cidr, type Family, type Ip } from '../net/ip.ts';
import { endpointsKey, type EndpointInfo } from './endpoints.ts';
import { ipPortEntry, ipPortIpEntry, ipPortNetEntry, type SetBase } from './ipsets.ts';
import type { OutFilterDrop } from './iptables.ts';
import type { ServiceInfo, ServicePortInfo } from './service.ts';
import { categorizeEndpoints, endpointsFor, isLocal, type Categorized } from './topology.ts';
import { virtualServerKey, type Protocol, type RealServer, type ServiceKey, type VipKind, type VirtualServer } from './types.ts';
import type { RenderContext } from './context.ts';
import { checkedWeights, type ProbeTarget, type ServiceProbes } from './health-check.ts';

export interface SetEntry {
  readonly base: SetBase;
  readonly family: Family;
  readonly entry: string;
}

export interface ServiceState {
  readonly key: ServiceKey;
  readonly virtualServers: readonly VirtualServer[];
  /** Addresses to bind on kube-ipvs0. */
  readonly bound: readonly Ip[];
  readonly setEntries: readonly SetEntry[];
  readonly outFilterDrops: readonly OutFilterDrop[];
  /** Health-check node port (eTP=Local LoadBalancer) with this node's ready endpoints. */
  readonly healthCheck?: { readonly nodePort: number; readonly localEndpoints: number };
  /** A Local policy found no local endpoint (kubeproxy_sync_proxy_rules_no_local_endpoints_total). */
  readonly noLocalEndpoints: { readonly internal: boolean; readonly external: boolean };
  /** The Service's active health check and the endpoints this node should probe for it. */
  readonly probes?: ServiceProbes;
}

const ofFamily = <T extends { readonly family: Family }>(xs: readonly T[], f: Family): T[] => xs.filter((x) => x.family === f);
const cidrsOf = (xs: readonly Cidr[], f: Family): Cidr[] => xs.filter((c) => c.ip.family === f);

class Builder {
  readonly vss: VirtualServer[] = [];
  readonly bound: Ip[] = [];
  readonly entries: SetEntry[] = [];
  readonly drops: OutFilterDrop[] = [];
  noLocalInternal = false;
  noLocalExternal = false;
  readonly info: ServiceInfo;
  readonly ctx: RenderContext;
  /** Endpoint addresses held down by health checks (weight 0); only with a check. */
  readonly down: ReadonlySet<string> | undefined;
  readonly probeTargets = new Map<string, ProbeTarget>();
  /** The port whose endpoints a check without its own port probes: the first TCP one. */
  readonly probePort: ServicePortInfo | undefined;
  constructor(info: ServiceInfo, ctx: RenderContext, down: ReadonlySet<string> | undefined) {
    this.info = info;
    this.ctx = ctx;
    this.down = info.healthCheck === undefined || down?.size === 0 ? undefined : down;
    this.probePort = info.ports.find((p) => p.protocol === 'TCP');
  }

  add(base: SetBase, family: Family, entry: string): void {
    this.entries.push({ base, family, entry });
  }

  bind(ip: Ip): void {
    if (!this.bound.some((b) => b.text === ip.text)) this.bound.push(ip);
  }

  /** External and LB IPs are bound unless already an address of the node (#114815). */
  bindUnlessNodeAddress(ip: Ip): void {
    if (!this.ctx.nodeAddressTexts.has(ip.text)) this.bind(ip);
  }

  /** Real servers per endpoint list: a port's ClusterIP, NodePort and LB virtual servers share one. */
  readonly #reals = new Map<readonly EndpointInfo[], readonly RealServer[]>();
  realServers(endpoints: readonly EndpointInfo[]): readonly RealServer[] {
    let rs = this.#reals.get(endpoints);
    if (rs === undefined) {
      // Already in address order (mergeSlices sorts; topology only filters).
      const weights = this.down === undefined ? undefined : checkedWeights(endpoints.map((ep) => ep.ip), this.down);
      rs = endpoints.map((ep, i): RealServer => ({ ip: ep.ip, port: ep.port, weight: weights?.[i] ?? 1, forwarding: 'masq' }));
      this.#reals.set(endpoints, rs);
    }
    return rs;
  }

  virtualServer(kind: VipKind, port: ServicePortInfo, ip: Ip, vport: number, cat: Categorized, onlyLocal: boolean): void {
    const { endpoints, noLocal } = endpointsFor(cat, onlyLocal);
    if (noLocal && this.info.internalPolicyLocal) this.noLocalInternal = true;
    if (noLocal && this.info.externalPolicyLocal) this.noLocalExternal = true;
    const check = this.info.healthCheck;
    if (check !== undefined && (check.port !== undefined || port === this.probePort)) {
      // Kubernetes' not-ready endpoints are never probed: readiness stays the authority.
      for (const ep of endpoints) if (ep.ready) this.probeTargets.set(ep.ip.text, { ip: ep.ip, port: check.port ?? ep.port });
    }
    this.vss.push({
      key: virtualServerKey(port.protocol, ip, vport),
      protocol: port.protocol,
      ip,
      port: vport,
      scheduler: this.info.scheduler,
      schedulerFlags: this.info.schedulerFlags,
      ...(this.info.affinityTimeout === undefined ? {} : { persistence: this.info.affinityTimeout }),
      realServers: this.realServers(endpoints),
      kind,
      service: port.ref,
    });
  }
}

function renderPort(b: Builder, family: Family, clusterIp: Ip, port: ServicePortInfo, eps: readonly EndpointInfo[]): void {
  const { info, ctx } = b;
  const p: Protocol = port.protocol;
  const externalIps = ofFamily(info.externalIps, family);
  const lbIps = ofFamily(info.loadBalancerIps, family);
  const nodeIps = ofFamily(ctx.nodePortIps, family);
  const externallyAccessible = port.nodePort !== 0 || externalIps.length > 0 || lbIps.length > 0;
  const cat = categorizeEndpoints(eps, {
    internalPolicyLocal: info.internalPolicyLocal,
    externalPolicyLocal: info.externalPolicyLocal,
    externallyAccessible,
  }, ctx.node);

  // Hairpin: a local endpoint reaching its own Service is masqueraded (readiness not checked).
  for (const ep of eps) {
    if (isLocal(ep, ctx.node)) b.add('KUBE-LOOP-BACK', family, ipPortIpEntry(ep.ip, p, ep.port, ep.ip));
  }

  b.add('KUBE-CLUSTER-IP', family, ipPortEntry(clusterIp, p, port.port));
  b.virtualServer('cluster-ip', port, clusterIp, port.port, cat, info.internalPolicyLocal);
  b.bind(clusterIp);

  for (const ip of externalIps) {
    b.add(info.externalPolicyLocal ? 'KUBE-EXTERNAL-IP-LOCAL' : 'KUBE-EXTERNAL-IP', family, ipPortEntry(ip, p, port.port));
    b.virtualServer('external-ip', port, ip, port.port, cat, info.externalPolicyLocal);
    b.bindUnlessNodeAddress(ip);
  }

  renderLoadBalancer(b, family, lbIps, port, cat);

  if (port.nodePort !== 0) renderNodePort(b, family, nodeIps, port, cat);
}

function renderLoadBalancer(b: Builder, family: Family, lbIps: readonly Ip[], port: ServicePortInfo, cat: Categorized): void {
  const { info, ctx } = b;
  const p = port.protocol;
  let ranges = cidrsOf(info.sourceRanges, family);
  // A range of /0 allows everyone: no firewall at all.
  if (ranges.some((r) => r.prefix === 0)) ranges = [];
  // A loopback node IP (the Node object has none of this family) never matches a range.
  const primary = ctx.primaryIps.find((ip) => ip.family === family);
  const allowFromNode = primary !== undefined && !isLoopback(primary) && ranges.some((r) => cidrContains(r, primary));
  for (const ip of lbIps) {
    const entry = ipPortEntry(ip, p, port.port);
    b.add('KUBE-LOAD-BALANCER', family, entry);
    if (info.externalPolicyLocal) b.add('KUBE-LOAD-BALANCER-LOCAL', family, entry);
    if (ranges.length > 0) {
      b.add('KUBE-LOAD-BALANCER-FW', family, entry);
      for (const r of ranges) b.add('KUBE-LOAD-BALANCER-SOURCE-CIDR', family, ipPortNetEntry(ip, p, port.port, r));
      // From the node, source and destination are both the VIP.
      if (allowFromNode) b.add('KUBE-LOAD-BALANCER-SOURCE-IP', family, ipPortIpEntry(ip, p, port.port, ip));
      else b.drops.push({ ip, protocol: p, port: port.port });
    }
    b.virtualServer('load-balancer', port, ip, port.port, cat, info.externalPolicyLocal);
    b.bindUnlessNodeAddress(ip);
  }
}

const NODE_PORT_SETS: Readonly<Record<Protocol, readonly [SetBase, SetBase]>> = {
  TCP: ['KUBE-NODE-PORT-TCP', 'KUBE-NODE-PORT-LOCAL-TCP'],
  UDP: ['KUBE-NODE-PORT-UDP', 'KUBE-NODE-PORT-LOCAL-UDP'],
  SCTP: ['KUBE-NODE-PORT-SCTP-HASH', 'KUBE-NODE-PORT-LOCAL-SCTP-HASH'],
};

function renderNodePort(b: Builder, family: Family, nodeIps: readonly Ip[], port: ServicePortInfo, cat: Categorized): void {
  if (nodeIps.length === 0) return; // no address to serve NodePorts on in this family
  const [all, local] = NODE_PORT_SETS[port.protocol];
  // bitmap:port carries no address; SCTP uses hash:ip,port with every node address.
  const entries = port.protocol === 'SCTP'
    ? nodeIps.map((ip) => ipPortEntry(ip, 'SCTP', port.nodePort))
    : [String(port.nodePort)];
  for (const e of entries) {
    b.add(all, family, e);
    if (b.info.externalPolicyLocal) b.add(local, family, e);
  }
  for (const ip of nodeIps) b.virtualServer('node-port', port, ip, port.nodePort, cat, b.info.externalPolicyLocal);
}


/**
 * Renders one proxied Service. `endpoints` is the output of mergeSlices for its slices.
 * Families are those of the Service's ClusterIPs that the proxy serves.
 */
export function renderService(
  info: ServiceInfo, endpoints: ReadonlyMap<string, readonly EndpointInfo[]>, ctx: RenderContext,
  down?: ReadonlySet<string>,
): ServiceState {
  const b = new Builder(info, ctx, down);
  const localReady = new Set<string>();
  for (const clusterIp of info.clusterIps) {
    const family = clusterIp.family;
    if (!ctx.families.includes(family)) continue;
    for (const port of info.ports) {
      const eps = endpoints.get(endpointsKey(port.ref.port, port.protocol, family)) ?? [];
      // Health checks count pods, not ports: 10.0.0.1:80 and 10.0.0.1:443 are one endpoint.
      for (const ep of eps) if (ep.ready && isLocal(ep, ctx.node)) localReady.add(ep.ip.text);
      renderPort(b, family, clusterIp, port, eps);
    }
    // kube-proxy reaches the health-check entry only past its NodePort block, which a port
    // with a NodePort leaves early when the family has no NodePort address on this node.
    const hasNodePortIps = ctx.nodePortIps.some((ip) => ip.family === family);
    if (info.healthCheckNodePort !== 0 && info.ports.some((p) => p.nodePort === 0 || hasNodePortIps)) {
      b.add('KUBE-HEALTH-CHECK-NODE-PORT', family, String(info.healthCheckNodePort));
    }
  }
  for (const ip of b.bound) b.add('KUBE-IPVS-IPS', ip.family, ip.text);
  // Copies sized to fit: an array grown by push keeps room for 17 elements (152 bytes), and
  // each Service keeps three of these for as long as it exists (#12).
  return {
    key: `${info.namespace}/${info.name}`,
    virtualServers: b.vss.slice(),
    bound: b.bound.slice(),
    setEntries: b.entries.slice(),
    outFilterDrops: b.drops.slice(),
    ...(info.healthCheckNodePort === 0 ? {} : { healthCheck: { nodePort: info.healthCheckNodePort, localEndpoints: localReady.size } }),
    noLocalEndpoints: { internal: b.noLocalInternal, external: b.noLocalExternal },
    ...(info.healthCheck === undefined ? {} : { probes: { spec: info.healthCheck, targets: b.probeTargets } }),
  };
}
