// Health-check node ports of eTP=Local LoadBalancer Services (spec.healthCheckNodePort): the
// cloud LB probes each node and sends traffic only to nodes that answer 200, i.e. that have a
// local endpoint and a healthy proxy (pkg/proxy/healthcheck/service_health.go).
import type { RequestListener } from 'node:http';
import { silentLog, type Log } from '../log.ts';
import { listen, reply, type Listening } from './listen.ts';

/** One entry of DesiredState.healthChecks. */
export interface HealthCheckSpec {
  /** namespace/name */
  readonly service: string;
  readonly nodePort: number;
  readonly localEndpoints: number;
}

export interface ListenFailure {
  readonly service: string;
  readonly nodePort: number;
  /** The address that could not be bound ("" for all addresses). */
  readonly address: string;
  readonly error: Error;
}

export interface ServiceHealthOptions {
  /** The proxier's health (ProxyHealth satisfies it); the Node's state is deliberately not used. */
  readonly proxyHealth: { isHealthy(): boolean };
  /** Addresses to listen on at first (see sync); absent: all. */
  readonly addresses?: ListenOn;
  readonly log?: Log;
}

interface Instance { readonly nodePort: number; readonly listeners: readonly Listening[]; readonly on: string }

/** Node addresses, or every address. */
export type ListenOn = readonly string[] | 'all';

const addressKey = (a: ListenOn): string => (a === 'all' ? '*' : [...a].sort().join(','));

export class ServiceHealthServer {
  readonly #o: ServiceHealthOptions;
  readonly #log: Log;
  readonly #instances = new Map<string, Instance>();
  readonly #counts = new Map<string, number>();
  #addresses: ListenOn;
  // Syncs run one after another so two never open the same port at once.
  #queue: Promise<unknown> = Promise.resolve();

  constructor(o: ServiceHealthOptions) {
    this.#o = o;
    this.#log = o.log ?? silentLog;
    this.#addresses = o.addresses ?? 'all';
  }

  /**
   * Makes the listeners match `desired`: opens new ports, closes removed or moved ones, keeps
   * the rest open. Counts apply at once, before any listener opens. A port that cannot be bound
   * is reported and logged, not kept, so the next sync retries it (as kube-proxy does).
   * `addresses`: the node addresses --nodeport-addresses selects ('all' when the flag is unset);
   * when they change, every check is reopened on the new ones.
   */
  sync(desired: readonly HealthCheckSpec[], addresses: ListenOn = this.#addresses): Promise<ListenFailure[]> {
    this.#addresses = addresses;
    const wanted = new Map(desired.map((d) => [d.service, d]));
    this.#counts.clear();
    for (const d of wanted.values()) this.#counts.set(d.service, d.localEndpoints);
    const run = this.#queue.then(() => this.#reconcile(wanted));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Open ports by service: for logs and tests. */
  ports(): ReadonlyMap<string, number> {
    return new Map([...this.#instances].map(([s, i]) => [s, i.nodePort]));
  }

  /** Closes every listener (daemon shutdown). */
  async close(): Promise<void> {
    this.#counts.clear();
    await this.#queue;
    await this.#reconcile(new Map());
  }

  async #reconcile(wanted: ReadonlyMap<string, HealthCheckSpec>): Promise<ListenFailure[]> {
    const closing: Promise<void>[] = [];
    const on = addressKey(this.#addresses);
    for (const [service, inst] of this.#instances) {
      if (wanted.get(service)?.nodePort === inst.nodePort && inst.on === on) continue;
      this.#log.info({ service, port: inst.nodePort }, 'closing health check');
      this.#instances.delete(service);
      closing.push(...inst.listeners.map((l) => l.close()));
    }
    // A port moving from one Service to another must be free before it is reopened.
    await Promise.all(closing);
    const failures: ListenFailure[] = [];
    for (const spec of wanted.values()) {
      if (this.#instances.has(spec.service)) continue;
      const r = await this.#open(spec);
      if ('failure' in r) {
        failures.push(r.failure);
        this.#log.error({ service: spec.service, port: spec.nodePort, address: r.failure.address, err: r.failure.error }, 'failed to start health check');
      } else {
        this.#log.info({ service: spec.service, port: spec.nodePort }, 'opened health check');
        this.#instances.set(spec.service, r.instance);
      }
    }
    return failures;
  }

  /** All addresses or none: a half-open check would be closed to let the next sync retry cleanly. */
  async #open(spec: HealthCheckSpec): Promise<{ instance: Instance } | { failure: ListenFailure }> {
    const addresses = this.#addresses;
    const hosts: (string | undefined)[] = addresses === 'all' ? [undefined] : [...addresses];
    const listeners: Listening[] = [];
    for (const host of hosts) {
      try {
        listeners.push(await listen(this.#handler(spec.service), { host, port: spec.nodePort }));
      } catch (err) {
        await Promise.all(listeners.map((l) => l.close()));
        const error = err instanceof Error ? err : new Error(String(err));
        return { failure: { service: spec.service, nodePort: spec.nodePort, address: host ?? '', error } };
      }
    }
    return { instance: { nodePort: spec.nodePort, listeners, on: addressKey(addresses) } };
  }

  #handler(service: string): RequestListener {
    const slash = service.indexOf('/');
    const [namespace, name] = [service.slice(0, slash), service.slice(slash + 1)];
    return (_req, res) => {
      const count = this.#counts.get(service) ?? 0;
      const healthy = this.#o.proxyHealth.isHealthy();
      reply(res, count > 0 && healthy ? 200 : 503, {
        'Content-Type': 'application/json',
        'X-Content-Type-Options': 'nosniff',
        // Lets LBs that weigh backends (GCE WEIGHTED_MAGLEV) spread by local endpoints, as kube-proxy.
        'X-Load-Balancing-Endpoint-Weight': String(count),
      }, healthBody(namespace, name, count, healthy));
    };
  }
}

/** Byte-for-byte kube-proxy's body: tab-indented, no trailing newline. */
export function healthBody(namespace: string, name: string, localEndpoints: number, healthy: boolean): string {
  return [
    '{',
    '\t"service": {',
    `\t\t"namespace": ${JSON.stringify(namespace)},`,
    `\t\t"name": ${JSON.stringify(name)}`,
    '\t},',
    `\t"localEndpoints": ${localEndpoints},`,
    `\t"serviceProxyHealthy": ${healthy}`,
    '}',
  ].join('\n');
}
