// Metrics of the active health checks (kube-ipvs' own, so kubeipvs_ as its other metrics;
// kubeproxy_* names stay kube-proxy's): probes by result, endpoints held at weight 0, and how
// long an endpoint failed before it was out of rotation in the kernel.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { HealthTransition } from '../observe/health-checker.ts';
import type { HealthCheckKind } from '../compute/model/health-check.ts';
import type { ProberInUse } from '../observe/native-prober.ts';

const PROBERS: readonly ProberInUse[] = ['native', 'in-process'];

/** 0.5 s to 2 min: an interval × failures of 1 s × 3 lands at 2–4 s with one sync. */
export const OUT_OF_ROTATION_BUCKETS = [0.5, 1, 2, 3, 4, 5, 7.5, 10, 15, 20, 30, 60, 120];

export class HealthCheckMetrics {
  readonly #checks: Counter<'result'>;
  readonly #heldDown: Gauge;
  readonly #outAfter: Histogram;
  readonly #prober: Gauge<'kind' | 'prober'>;
  /** First-failure times (epoch ms) of endpoints taken down and not yet applied by a sync. */
  #pending: number[] = [];

  constructor(registry: Registry) {
    const registers = [registry];
    this.#checks = new Counter({ name: 'kubeipvs_health_checks_total', help: 'Active health-check probes by result (success, failure)', labelNames: ['result'], registers });
    this.#heldDown = new Gauge({ name: 'kubeipvs_health_check_endpoints_down', help: 'Endpoints held at weight 0 by failed health checks, as last applied (fail-open ports not counted)', registers });
    this.#outAfter = new Histogram({
      name: 'kubeipvs_health_check_out_of_rotation_seconds',
      help: 'Time from an endpoint\'s first failed check to the sync that applied its weight 0',
      buckets: OUT_OF_ROTATION_BUCKETS, registers,
    });
    this.#prober = new Gauge({ name: 'kubeipvs_health_check_prober', help: 'The prober each kind of health check (tcp, http) uses now: 1 for native (kube-ipvs-prober) or in-process', labelNames: ['kind', 'prober'], registers });
    for (const result of ['success', 'failure']) this.#checks.inc({ result }, 0);
  }

  prober(kind: HealthCheckKind, p: ProberInUse): void {
    for (const q of PROBERS) this.#prober.set({ kind, prober: q }, q === p ? 1 : 0);
  }

  result(ok: boolean, count = 1): void { this.#checks.inc({ result: ok ? 'success' : 'failure' }, count); }

  transition(t: HealthTransition): void {
    if (t.down && t.firstFailureAt !== undefined) this.#pending.push(t.firstFailureAt);
  }

  /** After a sync: an applied one put the pending endpoints at weight 0. */
  synced(ok: boolean, heldDown: number, nowMs: number): void {
    if (!ok) return;
    this.#heldDown.set(heldDown);
    for (const t of this.#pending) this.#outAfter.observe(Math.max(0, nowMs - t) / 1000);
    this.#pending = [];
  }
}
