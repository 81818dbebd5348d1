// Run by churn.test.ts as `node --expose-gc`: create and delete 10,000 Services and their
// EndpointSlices through decode and the cluster state, several rounds, and print the heap after
// each round (after a full GC) and the sizes of every map the cluster state keeps.
import { decodeEndpointSlice, decodeService } from '../../src/compute/k8s/decode.ts';
import { ClusterState, keyOf } from '../../src/observe/cluster-state.ts';

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');
const N = 10_000;
const ROUNDS = Number(process.argv[2] ?? '4');
const cluster = new ClusterState();

function round(r: number): void {
  for (let i = 0; i < N; i++) {
    // A new name every round: a leak keyed by name grows, one keyed by slot would not.
    const name = `svc-${String(r)}-${String(i)}`;
    const svc = decodeService({ metadata: { namespace: 'churn', name, resourceVersion: String(i) }, spec: { clusterIP: `10.96.${String(i >> 8)}.${String(i & 255)}`, ports: [{ port: 80 }] } });
    cluster.setService(keyOf(svc), svc);
    const slice = decodeEndpointSlice({
      metadata: { namespace: 'churn', name: `${name}-abc`, labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4', endpoints: [{ addresses: ['10.244.0.1'], conditions: { ready: true } }], ports: [{ port: 8080 }],
    });
    cluster.setSlice(keyOf(slice), slice);
  }
  cluster.takeChanges();
  for (let i = 0; i < N; i++) {
    const name = `svc-${String(r)}-${String(i)}`;
    cluster.setSlice(`churn/${name}-abc`, undefined);
    cluster.setService(`churn/${name}`, undefined);
  }
  cluster.takeChanges();
}

const heaps: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  round(r);
  gc();
  gc();
  heaps.push(process.memoryUsage().heapUsed);
}
const sizes = { services: cluster.services.size, slices: cluster.slices.size, slicesOf: cluster.slicesOf.size, pendingServices: cluster.pendingServiceChanges, pendingSlices: cluster.pendingEndpointChanges };
process.stdout.write(JSON.stringify({ heaps, sizes }) + '\n');
