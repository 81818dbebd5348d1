// The test Kubernetes API server used by integration tests; see README.md.
export { start, TestApiServer, type StartOptions } from './server.ts';
export type { KubeObject, ObjectMeta, Ref, Verb, WatchEvent, WatchEventType } from './types.ts';
export type { RequestRecord } from './faults.ts';
export type { WatchRecord, WatchSettings } from './watch.ts';
