// Runs inside the VM (make e2e): the real `ipvsadm -Sn` after a cold sync prints every virtual
// server exactly as savedTexts formats what was applied (src/tools/ipvsadm.ts), so the first
// resync's verification records each block without parsing it — here endpoints are applied out
// of address order, which is where the printed order could differ.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dataplane } from '../../src/apply/dataplane.ts';
import { execaRunner } from '../../src/apply/exec.ts';
import { silentLog } from '../../src/log.ts';
import { computeDesired } from '../../src/compute/model/compute-desired.ts';
import { config, ep, makeService, makeSlice } from '../compute/builders.ts';
import { sh } from './lab.ts';

test('the first resync after a cold sync on the real kernel parses no virtual server', async () => {
  const services = [
    makeService('d', 'web', { clusterIP: '10.96.0.20', ports: [{ name: 'http', port: 80 }, { name: 'https', port: 443 }] }),
    makeService('d', 'sticky', { clusterIP: '10.96.0.21', sessionAffinity: 'ClientIP', ports: [{ name: 'http', port: 80 }] }),
    makeService('d', 'dns', { clusterIP: '10.96.0.53', ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] }),
  ];
  const unsorted = [7, 3, 12, 1, 9].map((n) => ep(`10.244.${String(n)}.5`));
  const endpointSlices = [
    makeSlice('d', 'web', unsorted, [{ name: 'http', port: 8080 }, { name: 'https', port: 8443 }]),
    makeSlice('d', 'sticky', unsorted.slice(1), [{ name: 'http', port: 8080 }]),
    makeSlice('d', 'dns', unsorted.slice(2), [{ name: 'dns', port: 5353, protocol: 'UDP' }]),
  ];
  // IPv4 only, as the dataplane below (the daemon computes for the families it proxies).
  const desired = computeDesired({ services, endpointSlices, nodes: [] }, config({ nodeAddresses: ['192.168.1.10'], clusterCidr: '10.244.0.0/16' }), [4]).desired;
  const dp = new Dataplane({ runner: execaRunner, families: [4], excludeCidrs: [], log: silentLog });
  await dp.sync(desired, { full: true });
  const dump = sh('ipvsadm', '-Sn');
  const text = await dp.readKernel();
  assert.equal(await dp.verify(text, () => false), 'done');
  const r = await dp.sync(desired, { full: true, text });
  const blocks = dump.split('\n').filter((l) => l.startsWith('-A ')).length;
  assert.equal(blocks, 4);
  // ipvsadm prints the real servers sorted by address (1, 3, 7, 9, 12), not as applied (7, 3, 12, 1, 9).
  assert.match(dump, /-a -t 10\.96\.0\.20:80 -r 10\.244\.1\.5:8080 -m -w 1\n-a -t 10\.96\.0\.20:80 -r 10\.244\.3\.5:8080 -m -w 1\n/);
  assert.equal(r.read?.verified?.printed, blocks, JSON.stringify(r.read));
  assert.equal(r.read.ipvsParsed, 0);
  // Nothing to change or repair anywhere.
  assert.deepEqual(r.changes, { ipvs: 0, ipset: 0, iptables: 0, addresses: 0 });
  assert.equal(r.repairs, 0);
});
