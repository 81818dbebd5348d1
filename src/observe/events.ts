// Kubernetes Events for invalid Services, so `kubectl describe service` shows why kube-ipvs
// skipped one. One Event series per Service and reason for the whole cluster, as client-go's
// recorder aggregates: the Event's name follows from the Service and the reason, so every
// node finds the same Event and bumps its count instead of posting its own. A node writes
// only when a Service's problem appears or changes, never at each re-render. Best effort: a
// failed write is logged, never retried or fatal. Written as plain JSON through client-node's
// request path (api-request.ts): its generated CoreV1Api would load the whole generated API
// (~0.5 s and ~45 MiB at start-up, docs/benchmarks.md) for three calls.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Warning } from '../compute/model/types.ts';
import type { Log } from '../log.ts';
import { apiRequest, type ApiRequest } from './api-request.ts';
import { V1MicroTime } from './kube-client.ts';

export const COMPONENT = 'kube-ipvs';
export const INVALID_SERVICE = 'InvalidService';

/** Deterministic, cluster-wide: `web.kube-ipvs.invalidservice` (a valid DNS subdomain). */
export const eventName = (service: string, reason: string): string => `${service}.${COMPONENT}.${reason.toLowerCase()}`;

const WRITE_TIMEOUT_MS = 30_000;
const MERGE_PATCH = 'application/merge-patch+json';

/** The API server answered a write or read of an Event with this HTTP status. */
export class EventWriteError extends Error {
  readonly code = 'EVENT_WRITE_FAILED';
  readonly statusCode: number;
  constructor(what: string, statusCode: number, body: string) {
    super(`${what}: HTTP ${String(statusCode)}: ${body.slice(0, 200)}`);
    this.name = 'EventWriteError';
    this.statusCode = statusCode;
  }
}

// AlreadyExists on create, Conflict on a stale resourceVersion: both 409.
const isConflict = (e: unknown): boolean => e instanceof EventWriteError && e.statusCode === 409;

/** A core/v1 Event as sent (JSON.stringify writes the dates as RFC 3339, eventTime in microseconds). */
interface EventBody {
  readonly metadata: { readonly name?: string; readonly generateName?: string; readonly namespace: string };
  readonly involvedObject: { readonly apiVersion?: string; readonly kind: string; readonly namespace?: string; readonly name: string; readonly uid?: string };
  readonly reason: string;
  readonly action?: string;
  readonly message: string;
  readonly type: 'Normal' | 'Warning';
  readonly source: { readonly component: string; readonly host: string };
  readonly reportingComponent: string;
  readonly reportingInstance: string;
  readonly eventTime?: V1MicroTime;
  readonly firstTimestamp: Date;
  readonly lastTimestamp: Date;
  readonly count: number;
}

/** What is read back of an existing Event (any field may be missing from what a server sends). */
interface Stored { readonly metadata?: { readonly resourceVersion?: string }; readonly count?: number }

const eventsPath = (namespace: string): string => `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`;

export class EventRecorder {
  readonly #kc: KubeConfig;
  readonly #log: Log;
  readonly #host: string;
  /** Service key → the message last written for it by this node. */
  readonly #written = new Map<string, string>();
  /** Writes per Service run one after another, so this node never races itself. */
  readonly #queue = new Map<string, Promise<void>>();

  constructor(kc: KubeConfig, host: string, log: Log) {
    this.#kc = kc;
    this.#log = log;
    this.#host = host;
  }

  /**
   * kube-proxy's "birth cry" (cmd/kube-proxy/app/server.go): a Normal event on this Node, reason
   * Starting, action StartKubeProxy, reported by kube-proxy — what `kubectl get events` and node
   * dashboards show when the proxy (re)starts. kube-proxy posts it through events.k8s.io/v1;
   * here it goes through core/v1 (the apiserver shows each API's events in the other), which the
   * ClusterRole already grants for the Service warnings.
   */
  starting(): void {
    const now = new Date();
    const body: EventBody = {
      // Events about cluster-scoped objects go to "default", as client-go's recorder puts them.
      metadata: { generateName: `${this.#host}.`, namespace: 'default' },
      involvedObject: { kind: 'Node', name: this.#host, uid: this.#host },
      reason: 'Starting',
      action: 'StartKubeProxy',
      message: '',
      type: 'Normal',
      source: { component: 'kube-proxy', host: this.#host },
      reportingComponent: 'kube-proxy',
      reportingInstance: `kube-proxy-${this.#host}`,
      eventTime: new V1MicroTime(now.getTime()),
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    this.#send(`create the Starting event`, { method: 'POST', path: eventsPath('default'), body }).catch((e: unknown) => {
      this.#log.warn({ err: e instanceof Error ? e.message : String(e) }, 'could not record the Starting event');
    });
  }

  /**
   * A Service's warnings as of its latest render (empty: it is fine now). Writes only when
   * they differ from what this node last wrote for it.
   */
  serviceWarnings(key: string, warnings: readonly Warning[]): void {
    const own = warnings.filter((w) => w.kind === 'Service');
    if (own.length === 0) { this.#written.delete(key); return; }
    const message = own.map((w) => `${w.field}: ${w.message}`).join('; ');
    if (this.#written.get(key) === message) return;
    this.#written.set(key, message);
    const [namespace = 'default', name = ''] = key.split('/');
    const prev = this.#queue.get(key) ?? Promise.resolve();
    const next = prev.then(() => this.#write(namespace, name, message)).catch((e: unknown) => {
      this.#log.warn({ service: key, err: e instanceof Error ? e.message : String(e) }, 'could not record event');
    }).finally(() => { if (this.#queue.get(key) === next) this.#queue.delete(key); });
    this.#queue.set(key, next);
  }

  /** Resolves once every write asked for so far has been made (or has failed). */
  async flush(): Promise<void> {
    while (this.#queue.size > 0) await Promise.all(this.#queue.values());
  }

  /**
   * Create the series; when it exists (another node, or this one before a restart), read it
   * and count one more occurrence with a merge patch that carries the resourceVersion read, so
   * two nodes bumping at once both count (a conflict is read again, not lost). The verbs are
   * client-go's recorder's — create and patch — plus get for the count.
   */
  async #write(namespace: string, name: string, message: string): Promise<void> {
    const event = eventName(name, INVALID_SERVICE);
    try {
      await this.#send(`create event ${namespace}/${event}`, { method: 'POST', path: eventsPath(namespace), body: this.#event(namespace, name, message, new Date()) });
      return;
    } catch (e) {
      if (!isConflict(e)) throw e;
    }
    for (let attempt = 0; attempt < 3; attempt++) {
      const path = `${eventsPath(namespace)}/${encodeURIComponent(event)}`;
      const existing = JSON.parse(await this.#send(`read event ${namespace}/${event}`, { method: 'GET', path })) as Stored;
      const body = {
        metadata: { resourceVersion: existing.metadata?.resourceVersion },
        message, count: (existing.count ?? 1) + 1, lastTimestamp: new Date(), reportingInstance: this.#host,
      };
      try {
        await this.#send(`patch event ${namespace}/${event}`, { method: 'PATCH', path, body, contentType: MERGE_PATCH });
        return;
      } catch (e) {
        if (!isConflict(e)) throw e;
      }
    }
    throw new Error(`event ${namespace}/${event}: still conflicting after 3 attempts`);
  }

  /** The answer's text on a 2xx status (201 for a create); an EventWriteError otherwise. */
  async #send(what: string, r: Omit<ApiRequest, 'timeoutMs'>): Promise<string> {
    const { status, body } = await apiRequest(this.#kc, { ...r, timeoutMs: WRITE_TIMEOUT_MS });
    const text = await body.text();
    if (status < 200 || status > 299) throw new EventWriteError(what, status, text);
    return text;
  }

  #event(namespace: string, name: string, message: string, now: Date): EventBody {
    return {
      metadata: { name: eventName(name, INVALID_SERVICE), namespace },
      involvedObject: { apiVersion: 'v1', kind: 'Service', namespace, name },
      reason: INVALID_SERVICE,
      message,
      type: 'Warning',
      source: { component: COMPONENT, host: this.#host },
      reportingComponent: COMPONENT,
      reportingInstance: this.#host,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
  }
}
