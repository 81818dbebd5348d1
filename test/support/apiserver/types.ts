// Shapes shared by the test API server's modules. Objects are plain JSON, exactly as on the wire,
// so the server stays independent of @kubernetes/client-node's model classes.

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [key: string]: unknown;
}

/** Names an object for the in-process API. `apiVersion` only matters for Event (core or events.k8s.io). */
export interface Ref {
  readonly kind: string;
  readonly name: string;
  readonly namespace?: string;
  readonly apiVersion?: string;
}

/** The Kubernetes verbs this server serves; requests are counted per verb. */
export type Verb = 'list' | 'watch' | 'get' | 'create' | 'update' | 'patch' | 'delete';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchEvent {
  readonly type: WatchEventType;
  readonly object: unknown;
}
