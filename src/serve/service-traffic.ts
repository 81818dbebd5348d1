// Per-Service traffic from the kernel's IPVS counters (`ipvsadm -Ln --stats --exact`).
//
// Counter, not gauge: these are cumulative totals and users want rate(). But the kernel's
// numbers are per virtual server, and a Service port has several (ClusterIP, each NodePort
// address, LB and external IPs), any of which can be deleted and re-created (a node address
// change, a Service edit, drift repair) and so restart from 0. Summing raw kernel values would
// then make the Service's total drop, and Prometheus would read the drop as a counter reset
// and count the whole remaining sum again as new traffic. So each virtual server's increase is
// taken since its previous reading (a smaller reading means it was re-created: all of it is
// new) and added to a per-Service-port total that only grows while that Service port exists.
import type { ServiceStats } from '../tools/ipvsadm.ts';
import type { ServicePortRef } from '../compute/model/types.ts';
import type { VirtualServers } from '../compute/model/vs-map.ts';

export interface Traffic {
  conns: number;
  inPkts: number;
  outPkts: number;
  inBytes: number;
  outBytes: number;
}

const FIELDS = ['conns', 'inPkts', 'outPkts', 'inBytes', 'outBytes'] as const;
const zero = (): Traffic => ({ conns: 0, inPkts: 0, outPkts: 0, inBytes: 0, outBytes: 0 });

export interface ServiceTrafficRow {
  readonly ref: ServicePortRef;
  readonly traffic: Readonly<Traffic>;
}

const refKey = (r: ServicePortRef): string => `${r.namespace}/${r.name}/${r.port}`;

export class ServiceTrafficTracker {
  /** `refKey|vsKey` → the kernel's last reading for that virtual server. */
  #last = new Map<string, Traffic>();
  readonly #totals = new Map<string, { ref: ServicePortRef; traffic: Traffic }>();

  /**
   * Folds in one reading. Virtual servers not in `virtualServers` (not ours) are ignored; a
   * Service port with no virtual server left loses its series. Bytes beyond 2^53 (8 PiB) lose
   * precision: a JS number, like Prometheus' own float64 samples.
   */
  update(stats: ReadonlyMap<string, ServiceStats>, virtualServers: VirtualServers): void {
    const last = new Map<string, Traffic>();
    const live = new Set<string>();
    for (const [vsKey, vs] of virtualServers) {
      const rk = refKey(vs.service);
      live.add(rk);
      let total = this.#totals.get(rk);
      if (total === undefined) this.#totals.set(rk, (total = { ref: vs.service, traffic: zero() }));
      const now = stats.get(vsKey)?.stats;
      if (now === undefined) continue;
      const id = `${rk}|${vsKey}`;
      const before = this.#last.get(id);
      for (const f of FIELDS) total.traffic[f] += before === undefined || now[f] < before[f] ? now[f] : now[f] - before[f];
      last.set(id, { ...now });
    }
    this.#last = last;
    for (const rk of [...this.#totals.keys()]) if (!live.has(rk)) this.#totals.delete(rk);
  }

  rows(): ServiceTrafficRow[] {
    return [...this.#totals.values()].map(({ ref, traffic }) => ({ ref, traffic: { ...traffic } }));
  }
}
