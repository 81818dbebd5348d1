// Which endpoints a Service port uses (kube-proxy: pkg/proxy/topology.go, v1.33+).
import type { EndpointInfo } from './endpoints.ts';

export interface PortPolicy {
  readonly internalPolicyLocal: boolean;
  readonly externalPolicyLocal: boolean;
  /** Has a NodePort, external IPs or LB IPs in this IP family. */
  readonly externallyAccessible: boolean;
}

export interface NodeTopology {
  readonly nodeName: string;
  /** The Node's `topology.kubernetes.io/zone` label; "" when unlabelled. */
  readonly zone: string;
}

export interface Categorized {
  /** Endpoints for Cluster traffic policy (topology-filtered); empty if the port never uses them. */
  readonly cluster: readonly EndpointInfo[];
  /** This node's endpoints for Local traffic policy. */
  readonly local: readonly EndpointInfo[];
  /** Whether any endpoint anywhere is usable (ready, or serving and terminating). */
  readonly hasAny: boolean;
}

type TopologyMode = '' | 'PreferSameNode' | 'PreferSameZone';

/** An endpoint on this node (never when the node's name is unknown). */
export const isLocal = (ep: EndpointInfo, node: NodeTopology): boolean =>
  node.nodeName !== '' && ep.nodeName === node.nodeName;

const servingTerminating = (ep: EndpointInfo): boolean => ep.serving && ep.terminating;

/**
 * Hints are honoured only when every ready endpoint carries them and one names this
 * node (node hints, from trafficDistribution PreferSameNode) or this node's zone (zone
 * hints, from PreferClose/PreferSameZone or topology-mode Auto). Otherwise no filtering.
 * A hint is any name, the empty one included (kube-proxy: topologyModeFromHints).
 */
function topologyMode(endpoints: readonly EndpointInfo[], node: NodeTopology): TopologyMode {
  const ready = endpoints.filter((ep) => ep.ready);
  if (ready.length === 0) return '';
  if (ready.every((ep) => ep.nodeHints.length > 0) && ready.some((ep) => ep.nodeHints.includes(node.nodeName))) {
    return 'PreferSameNode';
  }
  // No check that the node has a zone: as upstream, an unlabelled node ("") matches an
  // endpoint hinted for the zone named "" — and no other.
  if (ready.every((ep) => ep.zoneHints.length > 0) && ready.some((ep) => ep.zoneHints.includes(node.zone))) {
    return 'PreferSameZone';
  }
  return '';
}

function availableForTopology(ep: EndpointInfo, mode: TopologyMode, node: NodeTopology): boolean {
  switch (mode) {
    case '': return true;
    case 'PreferSameNode': return ep.nodeHints.includes(node.nodeName);
    case 'PreferSameZone': return ep.zoneHints.includes(node.zone);
  }
}

export function categorizeEndpoints(
  endpoints: readonly EndpointInfo[], policy: PortPolicy, node: NodeTopology,
): Categorized {
  // Cluster endpoints are needed unless iTP=Local, and always for external VIPs
  // (even with eTP=Local, for the short circuit of in-cluster traffic).
  const usesCluster = !policy.internalPolicyLocal || policy.externallyAccessible;
  const usesLocal = policy.internalPolicyLocal || (policy.externalPolicyLocal && policy.externallyAccessible);
  let cluster: readonly EndpointInfo[] = [];
  if (usesCluster) {
    const mode = topologyMode(endpoints, node);
    cluster = endpoints.filter((ep) => ep.ready && availableForTopology(ep, mode, node));
    // No ready endpoint: fall back to serving+terminating ones, ignoring topology.
    if (cluster.length === 0) cluster = endpoints.filter(servingTerminating);
  }
  let hasAny = cluster.length > 0;
  let local: readonly EndpointInfo[] = [];
  if (usesLocal) {
    hasAny ||= endpoints.some((ep) => ep.ready || servingTerminating(ep));
    const localReady = endpoints.filter((ep) => isLocal(ep, node) && ep.ready);
    local = localReady.length > 0
      ? localReady
      : endpoints.filter((ep) => isLocal(ep, node) && servingTerminating(ep));
  }
  return { cluster, local, hasAny };
}

/**
 * The endpoints one virtual server gets. With a Local policy and no local endpoint, the
 * IPVS proxier falls back to the cluster endpoints so in-cluster clients of an external
 * VIP bound on kube-ipvs0 are not blackholed (kubernetes/kubernetes#97081).
 */
export function endpointsFor(c: Categorized, onlyLocal: boolean): { endpoints: readonly EndpointInfo[]; noLocal: boolean } {
  if (!onlyLocal) return { endpoints: c.cluster, noLocal: false };
  if (c.local.length > 0) return { endpoints: c.local, noLocal: false };
  return { endpoints: c.cluster, noLocal: c.hasAny };
}
