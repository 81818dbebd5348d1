// IPVS diff: adds, edits, graceful removal, ownership — asserted on the ipvsadm lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diffIpvs } from '../../../src/compute/diff/ipvs.ts';
import { formatIpvsOp, parseIpvsadmSave, type ObservedService, type RealServerConns } from '../../../src/tools/ipvsadm.ts';
import { parseIp } from '../../../src/compute/net/ip.ts';
import { compute, ep, makeService, makeSlice } from '../builders.ts';

const desiredOf = (eps: string[], protocol = 'TCP', extra = {}) => compute({
  services: [makeService('d', 'web', { clusterIP: '10.96.0.20', ports: [{ name: 'p', port: 80, protocol }], ...extra })],
  endpointSlices: [makeSlice('d', 'web', eps.map((a) => ep(a)), [{ name: 'p', port: 8080, protocol }])],
}).desired.virtualServers;

const kernel = (text: string) => parseIpvsadmSave(text).services;
const all = (): boolean => true;
const lines = (d: ReturnType<typeof diffIpvs>) => d.ops.map(formatIpvsOp);
const conns = (key: string, ip: string, active: number, inactive: number): Map<string, RealServerConns[]> =>
  new Map([[key, [{ ip: parseIp(ip)!, port: 8080, weight: 1, activeConns: active, inactiveConns: inactive }]]]);

test('an empty kernel gets the service and its real servers', () => {
  const d = diffIpvs(desiredOf(['10.244.1.1']), new Map(), { owns: all });
  assert.deepEqual(lines(d), ['-A -t 10.96.0.20:80 -s rr', '-a -t 10.96.0.20:80 -r 10.244.1.1:8080 -m -w 1']);
});

test('a kernel already in the desired state needs nothing (adoption: no flush, no re-add)', () => {
  const k = kernel('-A -t 10.96.0.20:80 -s rr\n-a -t 10.96.0.20:80 -r 10.244.1.1:8080 -m -w 1\n');
  assert.deepEqual(lines(diffIpvs(desiredOf(['10.244.1.1']), k, { owns: all })), []);
});

test('scheduler or persistence change edits the service in place; weight 0 left by a restart goes back to 1', () => {
  const k = kernel('-A -t 10.96.0.20:80 -s wlc\n-a -t 10.96.0.20:80 -r 10.244.1.1:8080 -m -w 0\n');
  assert.deepEqual(lines(diffIpvs(desiredOf(['10.244.1.1'], 'TCP', { sessionAffinity: 'ClientIP' }), k, { owns: all })), [
    '-E -t 10.96.0.20:80 -s rr -p 10800',
    '-e -t 10.96.0.20:80 -r 10.244.1.1:8080 -m -w 1',
  ]);
});

test('a removed TCP real server with connections drains at weight 0; without connections it is deleted', () => {
  const k = kernel('-A -t 10.96.0.20:80 -s rr\n-a -t 10.96.0.20:80 -r 10.244.1.1:8080 -m -w 1\n-a -t 10.96.0.20:80 -r 10.244.1.2:8080 -m -w 1\n');
  const want = desiredOf(['10.244.1.1']);
  const unknown = diffIpvs(want, k, { owns: all });
  assert.equal(unknown.needsConns, true);
  const busy = diffIpvs(want, k, { owns: all, conns: conns('TCP/10.96.0.20:80', '10.244.1.2', 1, 3) });
  assert.deepEqual(lines(busy), ['-e -t 10.96.0.20:80 -r 10.244.1.2:8080 -m -w 0']);
  assert.deepEqual(busy.draining, ['TCP/10.96.0.20:80 10.244.1.2:8080']);
  const idle = diffIpvs(want, k, { owns: all, conns: conns('TCP/10.96.0.20:80', '10.244.1.2', 0, 0) });
  assert.deepEqual(lines(idle), ['-d -t 10.96.0.20:80 -r 10.244.1.2:8080']);
});

test('a draining server that comes back is restored to weight 1', () => {
  const k = kernel('-A -t 10.96.0.20:80 -s rr\n-a -t 10.96.0.20:80 -r 10.244.1.2:8080 -m -w 0\n');
  assert.deepEqual(lines(diffIpvs(desiredOf(['10.244.1.2']), k, { owns: all })), ['-e -t 10.96.0.20:80 -r 10.244.1.2:8080 -m -w 1']);
});

test('UDP real servers are deleted at once (no connection state to drain)', () => {
  const k = kernel('-A -u 10.96.0.20:80 -s rr\n-a -u 10.96.0.20:80 -r 10.244.1.1:8080 -m -w 1\n-a -u 10.96.0.20:80 -r 10.244.1.2:8080 -m -w 1\n');
  const d = diffIpvs(desiredOf(['10.244.1.1'], 'UDP'), k, { owns: all });
  assert.deepEqual([lines(d), d.needsConns], [['-d -u 10.96.0.20:80 -r 10.244.1.2:8080'], false]);
});

test('services we own and no longer want are deleted last; services we do not own are never touched', () => {
  const k = kernel('-A -t 10.96.0.99:80 -s rr\n-A -t 192.168.1.10:8080 -s wlc\n-A -f 7 -s rr\n');
  const owns = (s: ObservedService) => s.target.kind === 'address' && s.target.ip.text === '10.96.0.99';
  assert.deepEqual(lines(diffIpvs(desiredOf(['10.244.1.1']), k, { owns })), [
    '-A -t 10.96.0.20:80 -s rr', '-a -t 10.96.0.20:80 -r 10.244.1.1:8080 -m -w 1', '-D -t 10.96.0.99:80',
  ]);
});

test('an incremental diff looks only at the keys it is given', () => {
  const k = kernel('-A -t 10.96.0.99:80 -s rr\n');
  assert.deepEqual(lines(diffIpvs(desiredOf(['10.244.1.1']), k, { owns: all, keys: ['TCP/10.96.0.20:80'] })), [
    '-A -t 10.96.0.20:80 -s rr', '-a -t 10.96.0.20:80 -r 10.244.1.1:8080 -m -w 1',
  ]);
});
