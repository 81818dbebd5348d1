// The shipped example cluster (examples/cluster.yaml) as node-a of the golden `examples` case
// sees it: the material of the nftables backend's tests.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Cluster } from '../../src/compute/k8s/manifests.ts';
import { parseManifests } from '../../src/compute/k8s/manifests.ts';
import { computeDesired } from '../../src/compute/model/compute-desired.ts';
import type { DesiredState } from '../../src/compute/model/desired.ts';
import { buildNftTable } from '../../src/compute/model/nft.ts';
import type { NftTable } from '../../src/tools/nft.ts';
import { config } from './builders.ts';

const file = join(import.meta.dirname, '../../examples/cluster.yaml');

export const exampleConfig = config({ nodeAddresses: ['192.168.1.10', 'fd00:192:168:1::10'], clusterCidr: '10.244.0.0/16,fd00:10:244::/56' });

export function exampleCluster(): Cluster {
  return parseManifests(readFileSync(file, 'utf8'), file);
}

export function desiredOf(cluster: Cluster): { desired: DesiredState; table: NftTable } {
  const { desired } = computeDesired(cluster, exampleConfig);
  return { desired, table: buildNftTable(desired.ipsets, desired.iptables) };
}
