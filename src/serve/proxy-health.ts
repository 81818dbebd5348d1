// The proxier's health as kube-proxy reports it on /healthz and /livez (--healthz-bind-address,
// default 0.0.0.0:10256): unhealthy when a queued change has waited 2×syncPeriod without a
// sync applying it (pkg/proxy/healthcheck/proxy_health.go). /healthz also fails while this
// Node is being deleted, so load balancers drain it; /livez ignores the Node, so the kubelet
// does not restart a proxy that is merely on a node going away.
// Unlike kube-proxy, /healthz (and /readyz) fail until the first sync has been applied: a node
// whose proxy has programmed nothing yet must not get load-balancer traffic nor count as
// ready. /livez keeps kube-proxy's rule (healthy before the first sync, however long it takes),
// so a slow first sync on a big cluster is not killed by the liveness probe.
// /readyz is kube-ipvs' own (kube-proxy's mux answers 404 there): a readiness probe on it fails
// while another process (kube-proxy, during a migration) still holds this port.
import type { RequestListener } from 'node:http';
import type { Counter } from 'prom-client';
import { goTime } from './go-time.ts';
import { listen, parseBindAddress, reply, type Listening } from './listen.ts';

export type IpFamilyName = 'IPv4' | 'IPv6';

export interface ProxierHealth {
  /** Epoch ms of the last applied sync of this family. */
  readonly lastUpdated: number;
  readonly healthy: boolean;
}

export interface HealthReport {
  /** The proxier's health alone (kube-proxy's Health().Healthy): what /livez and the Service health checks use. */
  readonly healthy: boolean;
  /** The most recent applied sync of any family; undefined before the first one. */
  readonly lastUpdated: number | undefined;
  readonly currentTime: number;
  /** False while the Node is being deleted (or autoscaler-tainted, or gone): /healthz fails then. */
  readonly nodeEligible: boolean;
  /** Per family that has synced at least once. */
  readonly status: ReadonlyMap<IpFamilyName, ProxierHealth>;
  /** A sync has been applied since start (what /healthz waits for). */
  readonly synced: boolean;
}

/** The fields of a Node (client-node's V1Node or a plain object) that decide eligibility. */
export interface NodeLike {
  readonly metadata?: { readonly deletionTimestamp?: unknown } | undefined;
  readonly spec?: { readonly taints?: readonly { readonly key?: string | undefined }[] | null | undefined } | undefined;
}

/** Set by the Cluster Autoscaler on a node it is about to remove. */
export const TO_BE_DELETED_TAINT = 'ToBeDeletedByClusterAutoscaler';

export interface ProxyHealthOptions {
  readonly syncPeriodMs: number;
  readonly clock?: { now(): number };
  /** Families queued()/updated() mark when called without one; default IPv4 only. */
  readonly families?: readonly IpFamilyName[];
}

export class ProxyHealth {
  readonly #clock: { now(): number };
  readonly #timeoutMs: number;
  readonly #families: readonly IpFamilyName[];
  readonly #lastUpdated = new Map<IpFamilyName, number>();
  readonly #oldestQueued = new Map<IpFamilyName, number>();
  // Eligible until a Node event says otherwise, as kube-proxy while it starts up.
  #nodeEligible = true;

  constructor(o: ProxyHealthOptions) {
    this.#clock = o.clock ?? { now: () => Date.now() };
    this.#timeoutMs = 2 * o.syncPeriodMs;
    this.#families = o.families ?? ['IPv4'];
  }

  /** A change is waiting for a sync (kube-proxy QueuedUpdate): only the oldest waiting one counts. */
  queued(family?: IpFamilyName): void {
    const now = this.#clock.now();
    for (const f of family === undefined ? this.#families : [family]) if (!this.#oldestQueued.has(f)) this.#oldestQueued.set(f, now);
  }

  /** A sync applied everything queued so far (kube-proxy Updated). */
  updated(family?: IpFamilyName): void {
    const now = this.#clock.now();
    for (const f of family === undefined ? this.#families : [family]) {
      this.#oldestQueued.delete(f);
      this.#lastUpdated.set(f, now);
    }
  }

  setNodeEligible(eligible: boolean): void { this.#nodeEligible = eligible; }

  /** From this Node's informer; undefined when the Node object is gone. */
  syncNode(node: NodeLike | undefined): void {
    const deleting = node === undefined || (node.metadata?.deletionTimestamp ?? undefined) !== undefined;
    this.#nodeEligible = !deleting && !(node.spec?.taints ?? []).some((t) => t.key === TO_BE_DELETED_TAINT);
  }

  isHealthy(): boolean { return this.health().healthy; }

  /**
   * kube-proxy's exact rule: only families that have synced at least once are judged, so the
   * proxy is healthy before its first sync however long that takes; a family is unhealthy once
   * its oldest queued change is 2×syncPeriod old (>=, not >).
   */
  health(): HealthReport {
    const currentTime = this.#clock.now();
    const status = new Map<IpFamilyName, ProxierHealth>();
    let lastUpdated: number | undefined;
    for (const [f, updated] of this.#lastUpdated) {
      if (lastUpdated === undefined || updated > lastUpdated) lastUpdated = updated;
      const queued = this.#oldestQueued.get(f);
      status.set(f, { lastUpdated: updated, healthy: queued === undefined || currentTime - queued < this.#timeoutMs });
    }
    const healthy = [...status.values()].every((s) => s.healthy);
    return { healthy, lastUpdated, currentTime, nodeEligible: this.#nodeEligible, status, synced: lastUpdated !== undefined };
  }
}

export interface HealthCounters {
  readonly healthzTotal: Counter<'code'>;
  readonly livezTotal: Counter<'code'>;
}

const JSON_HEADERS = { 'Content-Type': 'application/json', 'X-Content-Type-Options': 'nosniff' };
// What Go's ServeMux answers for a path nothing is registered on.
const NOT_FOUND_HEADERS = { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' };

/** kube-proxy's body (Go json.Marshal of ProxyHealth): when healthy, lastUpdated is "now" for old clients. */
function body(h: HealthReport, ok: boolean, withNode: boolean): string {
  const families = [...h.status].sort(([a], [b]) => (a < b ? -1 : 1));
  return JSON.stringify({
    lastUpdated: goTime(ok ? h.currentTime : h.lastUpdated),
    currentTime: goTime(h.currentTime),
    ...(withNode ? { nodeEligible: h.nodeEligible } : {}),
    healthy: h.healthy,
    ...(families.length === 0 ? {} : {
      status: Object.fromEntries(families.map(([f, s]) => [f, { lastUpdated: goTime(s.lastUpdated), healthy: s.healthy }])),
    }),
  });
}

/** /healthz and /livez, any method, as kube-proxy's mux; /readyz answers as /healthz. */
export function healthHandler(health: ProxyHealth, counters: HealthCounters): RequestListener {
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/healthz' && path !== '/livez' && path !== '/readyz') { reply(res, 404, NOT_FOUND_HEADERS, '404 page not found\n'); return; }
    const h = health.health();
    const healthz = path !== '/livez';
    const ok = h.healthy && (!healthz || (h.nodeEligible && h.synced));
    const code = ok ? 200 : 503;
    // kube-proxy's counters count its own two paths; the kubelet's /readyz probes are not theirs.
    if (path !== '/readyz') (healthz ? counters.healthzTotal : counters.livezTotal).inc({ code: String(code) });
    reply(res, code, JSON_HEADERS, body(h, ok, healthz));
  };
}

/** Listens on `host:port` (e.g. 0.0.0.0:10256); rejects when the address cannot be bound. */
export function startHealthServer(addr: string, health: ProxyHealth, counters: HealthCounters): Promise<Listening> {
  return listen(healthHandler(health, counters), parseBindAddress(addr));
}
