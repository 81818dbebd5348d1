// The fields of Kubernetes objects the proxy reads, as they appear in JSON/YAML (same
// camelCase names). Everything is optional. These types hold only after decode.ts checked
// each field's JSON type: objects come from users and API servers, a wrongly typed field is
// recorded in `problems` (and the object skipped by the model), never trusted.

/** A field of the wrong JSON type (or shape), found when decoding one object. */
export interface FieldProblem {
  /** JSON-path-like field, e.g. `spec.ports[0].port`. */
  readonly field: string;
  readonly message: string;
}

export interface ObjectMeta {
  readonly name?: string;
  readonly namespace?: string;
  readonly uid?: string;
  readonly resourceVersion?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly deletionTimestamp?: unknown;
}

export interface ServicePort {
  readonly name?: string;
  readonly protocol?: string;
  readonly port?: number;
  readonly targetPort?: number | string;
  readonly nodePort?: number;
}

export interface LoadBalancerIngress {
  readonly ip?: string;
  readonly hostname?: string;
  readonly ipMode?: string;
}

export interface Service {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata?: ObjectMeta;
  readonly spec?: {
    readonly type?: string;
    readonly clusterIP?: string;
    readonly clusterIPs?: readonly string[];
    readonly ipFamilies?: readonly string[];
    readonly ipFamilyPolicy?: string;
    readonly ports?: readonly ServicePort[];
    readonly externalIPs?: readonly string[];
    readonly loadBalancerSourceRanges?: readonly string[];
    readonly sessionAffinity?: string;
    readonly sessionAffinityConfig?: { readonly clientIP?: { readonly timeoutSeconds?: number } };
    readonly externalTrafficPolicy?: string;
    readonly internalTrafficPolicy?: string;
    readonly healthCheckNodePort?: number;
    readonly trafficDistribution?: string;
    readonly externalName?: string;
  };
  readonly status?: { readonly loadBalancer?: { readonly ingress?: readonly LoadBalancerIngress[] } };
  /** Wrongly typed fields found by decode (absent when none): the Service is invalid. */
  readonly problems?: readonly FieldProblem[];
}

export interface EndpointConditions {
  readonly ready?: boolean | null;
  readonly serving?: boolean | null;
  readonly terminating?: boolean | null;
}

export interface Endpoint {
  readonly addresses?: readonly string[];
  readonly conditions?: EndpointConditions;
  readonly nodeName?: string;
  readonly zone?: string;
  readonly hints?: {
    readonly forZones?: readonly { readonly name?: string }[];
    readonly forNodes?: readonly { readonly name?: string }[];
  };
}

export interface EndpointPort {
  readonly name?: string | null;
  readonly port?: number | null;
  readonly protocol?: string | null;
}

export interface EndpointSlice {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata?: ObjectMeta;
  readonly addressType?: string;
  readonly endpoints?: readonly Endpoint[];
  readonly ports?: readonly EndpointPort[] | null;
  /** Wrongly typed fields found by decode (absent when none): the slice is invalid. */
  readonly problems?: readonly FieldProblem[];
}

export interface Node {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata?: ObjectMeta;
  /** The pod CIDRs the node IPAM gave this node (--detect-local-mode=NodeCIDR). */
  readonly spec?: { readonly podCIDR?: string; readonly podCIDRs?: readonly string[]; readonly taints?: readonly { readonly key?: string }[] | null };
  readonly status?: { readonly addresses?: readonly { readonly type?: string; readonly address?: string }[] };
  /** Wrongly typed fields found by decode (absent when none); those fields read as absent. */
  readonly problems?: readonly FieldProblem[];
}

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const SERVICE_PROXY_NAME_LABEL = 'service.kubernetes.io/service-proxy-name';
export const HEADLESS_LABEL = 'service.kubernetes.io/headless';
export const ZONE_LABEL = 'topology.kubernetes.io/zone';
export const TRIGGER_TIME_ANNOTATION = 'endpoints.kubernetes.io/last-change-trigger-time';
export const SCHEDULER_ANNOTATION = 'ipvs.kube-ipvs.io/scheduler';
export const SCHEDULER_FLAGS_ANNOTATION = 'ipvs.kube-ipvs.io/scheduler-flags';
/** Active health checks (opt-in per Service; see compute/model/health-check.ts). */
export const HEALTH_CHECK_ANNOTATIONS = {
  check: 'ipvs.kube-ipvs.io/health-check',
  interval: 'ipvs.kube-ipvs.io/health-check-interval',
  timeout: 'ipvs.kube-ipvs.io/health-check-timeout',
  failureThreshold: 'ipvs.kube-ipvs.io/health-check-failure-threshold',
  successThreshold: 'ipvs.kube-ipvs.io/health-check-success-threshold',
} as const;

// What decode keeps of metadata (everything else — managedFields, the kubectl last-applied
// annotation, other labels — is dropped at ingest). A label or annotation the proxy starts
// reading must be added here.
export const SERVICE_LABELS_READ: readonly string[] = [SERVICE_PROXY_NAME_LABEL, HEADLESS_LABEL];
export const SERVICE_ANNOTATIONS_READ: readonly string[] = [SCHEDULER_ANNOTATION, SCHEDULER_FLAGS_ANNOTATION, ...Object.values(HEALTH_CHECK_ANNOTATIONS)];
export const SLICE_LABELS_READ: readonly string[] = [SERVICE_NAME_LABEL, SERVICE_PROXY_NAME_LABEL, HEADLESS_LABEL];
export const SLICE_ANNOTATIONS_READ: readonly string[] = [TRIGGER_TIME_ANNOTATION];
