// Kubernetes Events for invalid Services, so `kubectl describe service` shows why kube-ipvs
// skipped one. Best effort: a failed post is logged, never retried or fatal.
import { CoreV1Api, CoreV1Event, EventsV1Api, EventsV1Event, V1MicroTime, type KubeConfig } from '@kubernetes/client-node';
import type { Warning } from '../compute/model/types.ts';
import type { Log } from '../log.ts';

export const COMPONENT = 'kube-ipvs';

export class EventRecorder {
  readonly #api: CoreV1Api;
  readonly #events: EventsV1Api;
  readonly #log: Log;
  readonly #host: string;

  constructor(kc: KubeConfig, host: string, log: Log) {
    this.#api = kc.makeApiClient(CoreV1Api);
    this.#events = kc.makeApiClient(EventsV1Api);
    this.#log = log;
    this.#host = host;
  }

  /**
   * kube-proxy's "birth cry" (cmd/kube-proxy/app/server.go): an events.k8s.io/v1 Normal event
   * on this Node, reason Starting, action StartKubeProxy, from reporting controller kube-proxy —
   * what `kubectl get events` and node dashboards show when the proxy (re)starts.
   */
  starting(): void {
    const now = new V1MicroTime();
    const body = Object.assign(new EventsV1Event(), {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      // Events about cluster-scoped objects go to "default", as client-go's recorder puts them.
      metadata: { generateName: `${this.#host}.`, namespace: 'default' },
      eventTime: now,
      type: 'Normal',
      reason: 'Starting',
      action: 'StartKubeProxy',
      note: '',
      regarding: { kind: 'Node', name: this.#host, uid: this.#host },
      reportingController: 'kube-proxy',
      reportingInstance: `kube-proxy-${this.#host}`,
    });
    this.#events.createNamespacedEvent({ namespace: 'default', body }).catch((e: unknown) => {
      this.#log.warn({ err: e instanceof Error ? e.message : String(e) }, 'could not record the Starting event');
    });
  }

  /** One Warning event on the Service the warning names. */
  invalidService(w: Warning): void {
    const [namespace = 'default', name = ''] = w.object.split('/');
    const now = new Date();
    const body = Object.assign(new CoreV1Event(), {
      metadata: { generateName: `${name}.`, namespace },
      involvedObject: { apiVersion: 'v1', kind: 'Service', namespace, name },
      reason: 'InvalidService',
      message: `${w.field}: ${w.message}`,
      type: 'Warning',
      source: { component: COMPONENT, host: this.#host },
      reportingComponent: COMPONENT,
      reportingInstance: this.#host,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    });
    this.#api.createNamespacedEvent({ namespace, body }).catch((e: unknown) => {
      this.#log.warn({ service: w.object, err: e instanceof Error ? e.message : String(e) }, 'could not record event');
    });
  }
}
