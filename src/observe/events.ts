// Kubernetes Events for invalid Services, so `kubectl describe service` shows why kube-ipvs
// skipped one. Best effort: a failed post is logged, never retried or fatal.
import { CoreV1Api, CoreV1Event, V1MicroTime, type KubeConfig } from '@kubernetes/client-node';
import type { Warning } from '../compute/model/types.ts';
import type { Log } from '../log.ts';

export const COMPONENT = 'kube-ipvs';

export class EventRecorder {
  readonly #api: CoreV1Api;
  readonly #log: Log;
  readonly #host: string;

  constructor(kc: KubeConfig, host: string, log: Log) {
    this.#api = kc.makeApiClient(CoreV1Api);
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
    const body = Object.assign(new CoreV1Event(), {
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
    });
    this.#api.createNamespacedEvent({ namespace: 'default', body }).catch((e: unknown) => {
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
