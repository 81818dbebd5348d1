// Small object builders for tests that talk to the test API server.
import type { KubeObject } from './types.ts';

type Labels = Readonly<Record<string, string>>;

export function service(namespace: string, name: string, labels: Labels = {}, clusterIP = '10.96.0.10'): KubeObject {
  return {
    apiVersion: 'v1', kind: 'Service',
    metadata: { namespace, name, labels: { ...labels } },
    spec: { type: 'ClusterIP', clusterIP, ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 }] },
  };
}

export function endpointSlice(namespace: string, name: string, serviceName: string, addresses: readonly string[], labels: Labels = {}): KubeObject {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { namespace, name, labels: { 'kubernetes.io/service-name': serviceName, ...labels } },
    addressType: 'IPv4',
    endpoints: addresses.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
    ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
  };
}

export function node(name: string, labels: Labels = {}): KubeObject {
  return {
    apiVersion: 'v1', kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, ...labels } },
    status: { addresses: [{ type: 'InternalIP', address: '192.168.0.10' }] },
  };
}

/** The smallest cluster a daemon test starts from: node-a and default/web (10.96.0.10) with one endpoint. */
export function seedWeb(api: { create(o: KubeObject): unknown }): void {
  api.create(node('node-a'));
  api.create(service('default', 'web', {}, '10.96.0.10'));
  api.create(endpointSlice('default', 'web-1', 'web', ['10.244.1.5']));
}
