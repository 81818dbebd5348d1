// The IPVS-mode semantics, one behaviour a test, each traced to kube-proxy
// (pkg/proxy/ipvs/proxier.go syncProxyRules/syncEndpoint unless said otherwise).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NODE, compute, ep, ipvsLines, lbStatus, makeNode, makeService, makeSlice, members } from '../builders.ts';

const web = (spec = {}, extra = {}) =>
  makeService('shop', 'web', { type: 'ClusterIP', clusterIP: '10.96.0.20', ports: [{ name: 'http', port: 80, protocol: 'TCP' }], ...spec }, extra);
const webSlice = (...eps: ReturnType<typeof ep>[]) => makeSlice('shop', 'web', eps, [{ name: 'http', port: 8080 }]);

test('ClusterIP: one virtual server, weight-1 masq real servers, address bound, CLUSTER-IP member', () => {
  const r = compute({ services: [web()], endpointSlices: [webSlice(ep('10.244.1.5'), ep('10.244.2.6'))] });
  assert.deepEqual(ipvsLines(r), [
    '-A -t 10.96.0.20:80 -s rr',
    '-a -t 10.96.0.20:80 -r 10.244.1.5:8080 -m -w 1',
    '-a -t 10.96.0.20:80 -r 10.244.2.6:8080 -m -w 1',
  ]);
  assert.deepEqual(r.desired.addresses.map((a) => a.text), ['10.96.0.20']);
  assert.deepEqual(members(r, 'KUBE-CLUSTER-IP'), ['10.96.0.20,tcp:80']);
  assert.deepEqual(members(r, 'KUBE-IPVS-IPS'), ['10.96.0.20']);
});

test('a Service without endpoints keeps its virtual server with no real servers (no reject rule in IPVS mode)', () => {
  const r = compute({ services: [web()] });
  assert.deepEqual(ipvsLines(r), ['-A -t 10.96.0.20:80 -s rr']);
});

test('multi-port and UDP/SCTP: ports match endpoint ports by name and protocol', () => {
  const svc = makeService('kube-system', 'dns', {
    clusterIP: '10.96.0.10',
    ports: [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, protocol: 'TCP' }, { name: 'sig', port: 3868, protocol: 'SCTP' }],
  });
  const slice = makeSlice('kube-system', 'dns', [ep('10.244.1.2')], [
    { name: 'dns', port: 5353, protocol: 'UDP' }, { name: 'dns-tcp', port: 5354, protocol: 'TCP' },
    { name: 'sig', port: 3869, protocol: 'SCTP' }, { name: 'dns', port: 9999, protocol: 'TCP' },
  ]);
  const r = compute({ services: [svc], endpointSlices: [slice] });
  assert.deepEqual(ipvsLines(r), [
    '-A -t 10.96.0.10:53 -s rr',
    '-a -t 10.96.0.10:53 -r 10.244.1.2:5354 -m -w 1',
    '-A -u 10.96.0.10:53 -s rr',
    '-a -u 10.96.0.10:53 -r 10.244.1.2:5353 -m -w 1',
    '-A --sctp-service 10.96.0.10:3868 -s rr',
    '-a --sctp-service 10.96.0.10:3868 -r 10.244.1.2:3869 -m -w 1',
  ]);
});

test('NodePort: one virtual server per node address, never bound; bitmap members for TCP/UDP, ip,port for SCTP', () => {
  const svc = makeService('shop', 'np', {
    type: 'NodePort', clusterIP: '10.96.0.30',
    ports: [{ name: 't', port: 80, nodePort: 30080 }, { name: 'u', port: 53, protocol: 'UDP', nodePort: 30053 }, { name: 's', port: 99, protocol: 'SCTP', nodePort: 30099 }],
  });
  const r = compute({ services: [svc] }, { nodeAddresses: ['192.168.1.10', '10.0.0.4', '127.0.0.1', 'fe80::1'] });
  const vss = [...r.desired.virtualServers.keys()];
  // The desired state is ordered by address, then port (compareVirtualServers), so restore
  // scripts and golden files are stable whatever order the Services were rendered in.
  assert.deepEqual(vss.filter((k) => !k.includes('10.96.')), [
    'UDP/10.0.0.4:30053', 'TCP/10.0.0.4:30080', 'SCTP/10.0.0.4:30099',
    'UDP/192.168.1.10:30053', 'TCP/192.168.1.10:30080', 'SCTP/192.168.1.10:30099',
  ]);
  assert.equal(vss.length, 9, 'loopback and IPv6 link-local addresses serve no NodePort');
  assert.deepEqual(r.desired.addresses.map((a) => a.text), ['10.96.0.30']);
  assert.deepEqual(members(r, 'KUBE-NODE-PORT-TCP'), ['30080']);
  assert.deepEqual(members(r, 'KUBE-NODE-PORT-UDP'), ['30053']);
  assert.deepEqual(members(r, 'KUBE-NODE-PORT-SCTP-HASH'), ['10.0.0.4,sctp:30099', '192.168.1.10,sctp:30099']);
  assert.deepEqual(members(r, 'KUBE-NODE-PORT-LOCAL-TCP'), []);
});

test('--nodeport-addresses narrows NodePorts to matching node addresses; "primary" uses the Node object IP', () => {
  const svc = makeService('shop', 'np', { type: 'NodePort', clusterIP: '10.96.0.30', ports: [{ port: 80, nodePort: 30080 }] });
  const nodeAddresses = ['192.168.1.10', '10.0.0.4'];
  const narrowed = compute({ services: [svc] }, { nodeAddresses, nodePortAddresses: ['10.0.0.0/8'] });
  assert.ok(narrowed.desired.virtualServers.has('TCP/10.0.0.4:30080'));
  assert.ok(!narrowed.desired.virtualServers.has('TCP/192.168.1.10:30080'));
  const primary = compute({ services: [svc], nodes: [makeNode(NODE, ['10.0.0.4'])] }, { nodeAddresses, nodePortAddresses: ['primary'] });
  assert.deepEqual([...primary.desired.virtualServers.keys()], ['TCP/10.0.0.4:30080', 'TCP/10.96.0.30:80']);
});

test('externalIPs: bound on kube-ipvs0 unless already a node address; eTP=Local uses EXTERNAL-IP-LOCAL', () => {
  const svc = web({ externalIPs: ['203.0.113.5', '192.168.1.10'] });
  const r = compute({ services: [svc] });
  assert.ok(r.desired.virtualServers.has('TCP/203.0.113.5:80'));
  assert.ok(r.desired.virtualServers.has('TCP/192.168.1.10:80'));
  assert.deepEqual(r.desired.addresses.map((a) => a.text), ['10.96.0.20', '203.0.113.5']);
  assert.deepEqual(members(r, 'KUBE-EXTERNAL-IP'), ['192.168.1.10,tcp:80', '203.0.113.5,tcp:80']);
  const local = compute({ services: [web({ externalIPs: ['203.0.113.5'], externalTrafficPolicy: 'Local' })] });
  assert.deepEqual(members(local, 'KUBE-EXTERNAL-IP'), []);
  assert.deepEqual(members(local, 'KUBE-EXTERNAL-IP-LOCAL'), ['203.0.113.5,tcp:80']);
});

test('LoadBalancer: ingress IPs get virtual servers and are bound; ipMode Proxy and hostname-only ingress are not programmed', () => {
  const svc = web({ type: 'LoadBalancer', ports: [{ name: 'http', port: 80, nodePort: 30080 }] },
    lbStatus('203.0.113.10', { ip: '203.0.113.11', ipMode: 'Proxy' }));
  const withHostname = { ...svc, status: { loadBalancer: { ingress: [{ ip: '203.0.113.10' }, { hostname: 'lb.example.com' }] } } };
  for (const s of [svc, withHostname]) {
    const r = compute({ services: [s] });
    assert.ok(r.desired.virtualServers.has('TCP/203.0.113.10:80'));
    assert.ok(!r.desired.virtualServers.has('TCP/203.0.113.11:80'));
    assert.deepEqual(members(r, 'KUBE-LOAD-BALANCER'), ['203.0.113.10,tcp:80']);
    assert.ok(r.desired.addresses.some((a) => a.text === '203.0.113.10'));
  }
});

test('loadBalancerSourceRanges: FW + SOURCE-CIDR members; node excluded → OUT-FILTER drop (#119656); node included → SOURCE-IP', () => {
  const lb = (ranges: string[]) => web({ type: 'LoadBalancer', loadBalancerSourceRanges: ranges }, lbStatus('203.0.113.10'));
  const excl = compute({ services: [lb(['198.51.100.0/24', ' 203.0.113.7/32 '])] });
  assert.deepEqual(members(excl, 'KUBE-LOAD-BALANCER-FW'), ['203.0.113.10,tcp:80']);
  // A host network is listed without its mask, as `ipset save` prints it.
  assert.deepEqual(members(excl, 'KUBE-LOAD-BALANCER-SOURCE-CIDR'), ['203.0.113.10,tcp:80,198.51.100.0/24', '203.0.113.10,tcp:80,203.0.113.7']);
  assert.deepEqual(members(excl, 'KUBE-LOAD-BALANCER-SOURCE-IP'), []);
  const filter = excl.desired.iptables[0]?.filter.rules ?? [];
  assert.ok(filter.includes('-A KUBE-IPVS-OUT-FILTER -s 203.0.113.10/32 -m ipvs --vproto 6 --vaddr 203.0.113.10 --vport 80 -j DROP'));
  const incl = compute({ services: [lb(['192.168.0.0/16'])], nodes: [makeNode(NODE, ['192.168.1.10'])] });
  assert.deepEqual(members(incl, 'KUBE-LOAD-BALANCER-SOURCE-IP'), ['203.0.113.10,tcp:80,203.0.113.10']);
  assert.ok(!(incl.desired.iptables[0]?.filter.rules ?? []).some((l) => l.includes('OUT-FILTER -s')));
  // 0.0.0.0/0 allows everyone: no firewall at all.
  const open = compute({ services: [lb(['0.0.0.0/0', '198.51.100.0/24'])] });
  assert.deepEqual(members(open, 'KUBE-LOAD-BALANCER-FW'), []);
});

test('session affinity ClientIP: persistent virtual servers with the timeout, default 10800', () => {
  const r = compute({ services: [web({ sessionAffinity: 'ClientIP' }), makeService('shop', 'api', {
    clusterIP: '10.96.0.21', sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } }, ports: [{ port: 90 }],
  })] });
  assert.deepEqual(ipvsLines(r), ['-A -t 10.96.0.20:80 -s rr -p 10800', '-A -t 10.96.0.21:90 -s rr -p 60']);
});

test('ready endpoints first; none ready → serving+terminating ones; not-serving ones never', () => {
  const rollout = webSlice(ep('10.244.1.1', { ready: false, serving: true, terminating: true }), ep('10.244.1.2', { ready: false, serving: false }));
  assert.deepEqual(ipvsLines(compute({ services: [web()], endpointSlices: [rollout] })).slice(1), ['-a -t 10.96.0.20:80 -r 10.244.1.1:8080 -m -w 1']);
  const mixed = webSlice(ep('10.244.1.1', { ready: false, serving: true, terminating: true }), ep('10.244.1.3', { ready: true }));
  assert.deepEqual(ipvsLines(compute({ services: [web()], endpointSlices: [mixed] })).slice(1), ['-a -t 10.96.0.20:80 -r 10.244.1.3:8080 -m -w 1']);
});

test('nil conditions mean ready; duplicates across slices keep the non-terminating one; only addresses[0] counts', () => {
  const a = makeSlice('shop', 'web', [{ addresses: ['10.244.1.1', '10.244.9.9'] }], [{ name: 'http', port: 8080 }], { name: 'web-a' });
  const b = makeSlice('shop', 'web', [ep('10.244.1.1', { ready: false, serving: true, terminating: true })], [{ name: 'http', port: 8080 }], { name: 'web-b' });
  const r = compute({ services: [web()], endpointSlices: [b, a] });
  assert.deepEqual(ipvsLines(r).slice(1), ['-a -t 10.96.0.20:80 -r 10.244.1.1:8080 -m -w 1']);
});

test('internalTrafficPolicy Local: only this node\'s endpoints; none local → no real server', () => {
  const slice = webSlice(ep('10.244.1.1', { node: NODE }), ep('10.244.2.2', { node: 'node-b' }));
  const r = compute({ services: [web({ internalTrafficPolicy: 'Local' })], endpointSlices: [slice] });
  assert.deepEqual(ipvsLines(r).slice(1), ['-a -t 10.96.0.20:80 -r 10.244.1.1:8080 -m -w 1']);
  const remote = compute({ services: [web({ internalTrafficPolicy: 'Local' })], endpointSlices: [webSlice(ep('10.244.2.2', { node: 'node-b' }))] });
  assert.deepEqual(ipvsLines(remote), ['-A -t 10.96.0.20:80 -s rr']);
  assert.deepEqual(remote.desired.noLocalEndpoints.internal, ['shop/web']);
});

test('externalTrafficPolicy Local: external VIPs use local endpoints, the ClusterIP all; health check node port', () => {
  const svc = web({ type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 32000, ports: [{ name: 'http', port: 80, nodePort: 30080 }] }, lbStatus('203.0.113.10'));
  const slice = webSlice(ep('10.244.1.1', { node: NODE }), ep('10.244.2.2', { node: 'node-b' }));
  const r = compute({ services: [svc], endpointSlices: [slice] });
  const rs = (key: string) => r.desired.virtualServers.get(key)?.realServers.map((x) => x.ip.text);
  assert.deepEqual(rs('TCP/10.96.0.20:80'), ['10.244.1.1', '10.244.2.2']);
  assert.deepEqual(rs('TCP/203.0.113.10:80'), ['10.244.1.1']);
  assert.deepEqual(rs('TCP/192.168.1.10:30080'), ['10.244.1.1']);
  assert.deepEqual(members(r, 'KUBE-LOAD-BALANCER-LOCAL'), ['203.0.113.10,tcp:80']);
  assert.deepEqual(members(r, 'KUBE-NODE-PORT-LOCAL-TCP'), ['30080']);
  assert.deepEqual(members(r, 'KUBE-HEALTH-CHECK-NODE-PORT'), ['32000']);
  assert.deepEqual(r.desired.healthChecks, [{ service: 'shop/web', nodePort: 32000, localEndpoints: 1 }]);
});

test('eTP=Local without a local endpoint falls back to cluster endpoints for external VIPs (IPVS quirk, #97081)', () => {
  const svc = web({ type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 32000, ports: [{ name: 'http', port: 80, nodePort: 30080 }] }, lbStatus('203.0.113.10'));
  const r = compute({ services: [svc], endpointSlices: [webSlice(ep('10.244.2.2', { node: 'node-b' }))] });
  assert.deepEqual(r.desired.virtualServers.get('TCP/203.0.113.10:80')?.realServers.map((x) => x.ip.text), ['10.244.2.2']);
  assert.deepEqual(r.desired.healthChecks, [{ service: 'shop/web', nodePort: 32000, localEndpoints: 0 }]);
  assert.deepEqual(r.desired.noLocalEndpoints.external, ['shop/web']);
});

test('local endpoints: hairpin LOOP-BACK members for every endpoint on this node', () => {
  const r = compute({ services: [web()], endpointSlices: [webSlice(ep('10.244.1.1', { node: NODE }), ep('10.244.2.2', { node: 'node-b' }))] });
  assert.deepEqual(members(r, 'KUBE-LOOP-BACK'), ['10.244.1.1,tcp:8080,10.244.1.1']);
});

test('zone hints: honoured when every ready endpoint has one and the node has a zone (topology.go)', () => {
  const hinted = webSlice(ep('10.244.1.1', { zoneHints: ['zone-a'] }), ep('10.244.2.2', { zoneHints: ['zone-b'] }));
  const zoned = [makeNode(NODE, ['192.168.1.10'], { 'topology.kubernetes.io/zone': 'zone-a' })];
  const rs = (r: ReturnType<typeof compute>) => r.desired.virtualServers.get('TCP/10.96.0.20:80')?.realServers.map((x) => x.ip.text);
  assert.deepEqual(rs(compute({ services: [web()], endpointSlices: [hinted], nodes: zoned })), ['10.244.1.1']);
  // Node without a zone label: hints ignored.
  assert.deepEqual(rs(compute({ services: [web()], endpointSlices: [hinted], nodes: [makeNode(NODE, [])] })), ['10.244.1.1', '10.244.2.2']);
  // One ready endpoint without hints: hints ignored.
  const partial = webSlice(ep('10.244.1.1', { zoneHints: ['zone-a'] }), ep('10.244.2.2'));
  assert.deepEqual(rs(compute({ services: [web()], endpointSlices: [partial], nodes: zoned })), ['10.244.1.1', '10.244.2.2']);
  // No hint for this zone: hints ignored.
  const elsewhere = webSlice(ep('10.244.1.1', { zoneHints: ['zone-c'] }), ep('10.244.2.2', { zoneHints: ['zone-b'] }));
  assert.deepEqual(rs(compute({ services: [web()], endpointSlices: [elsewhere], nodes: zoned })), ['10.244.1.1', '10.244.2.2']);
});

test('node hints (trafficDistribution PreferSameNode) win over zone hints', () => {
  const slice = webSlice(
    ep('10.244.1.1', { zoneHints: ['zone-a'], nodeHints: [NODE] }),
    ep('10.244.1.2', { zoneHints: ['zone-a'], nodeHints: ['node-c'] }),
  );
  const nodes = [makeNode(NODE, [], { 'topology.kubernetes.io/zone': 'zone-a' })];
  const r = compute({ services: [web({ trafficDistribution: 'PreferSameNode' })], endpointSlices: [slice], nodes });
  assert.deepEqual(r.desired.virtualServers.get('TCP/10.96.0.20:80')?.realServers.map((x) => x.ip.text), ['10.244.1.1']);
});

test('dual-stack: each family gets its own virtual servers, endpoints, KUBE-6- sets and ip6tables rules', () => {
  const svc = web({ clusterIPs: ['10.96.0.20', 'fd00:10:96::14'], ipFamilies: ['IPv4', 'IPv6'] });
  const v4 = webSlice(ep('10.244.1.1'));
  const v6 = makeSlice('shop', 'web', [ep('fd00:10:244::5')], [{ name: 'http', port: 8080 }], { name: 'web-v6', addressType: 'IPv6' });
  const r = compute({ services: [svc], endpointSlices: [v4, v6] });
  assert.deepEqual(ipvsLines(r), [
    '-A -t 10.96.0.20:80 -s rr',
    '-a -t 10.96.0.20:80 -r 10.244.1.1:8080 -m -w 1',
    '-A -t [fd00:10:96::14]:80 -s rr',
    '-a -t [fd00:10:96::14]:80 -r [fd00:10:244::5]:8080 -m -w 1',
  ]);
  assert.deepEqual(members(r, 'KUBE-6-CLUSTER-IP'), ['fd00:10:96::14,tcp:80']);
  assert.ok(r.desired.ipsets.some((s) => s.name === 'KUBE-6-LOAD-BALANCER-SOURCE-CID'), 'names are cut to 31 characters');
  const v6rules = r.desired.iptables.find((t) => t.family === 6);
  assert.ok(v6rules?.nat.rules.includes('-A KUBE-SERVICES -s ::1/128 -j RETURN'));
});

test('not proxied: headless, ExternalName, no ClusterIP, and objects labelled for another proxy', () => {
  const r = compute({
    services: [
      makeService('a', 'headless', { clusterIP: 'None', ports: [{ port: 1 }] }),
      makeService('a', 'ext', { type: 'ExternalName', externalName: 'x.example.com', clusterIP: '10.96.0.9', ports: [{ port: 1 }] }),
      makeService('a', 'noip', { ports: [{ port: 1 }] }),
      makeService('a', 'other', { clusterIP: '10.96.0.8', ports: [{ port: 1 }] }, { metadata: { namespace: 'a', name: 'other', labels: { 'service.kubernetes.io/service-proxy-name': 'x' } } }),
    ],
  });
  assert.equal(r.desired.virtualServers.size, 0);
  assert.equal(r.warnings.length, 0);
  assert.deepEqual(r.ignored.map((i) => i.object), ['Service a/headless', 'Service a/ext', 'Service a/noip', 'Service a/other']);
});

test('a malformed Service is skipped with a warning naming the field; the others are programmed', () => {
  const r = compute({
    services: [
      makeService('a', 'badport', { clusterIP: '10.96.0.2', ports: [{ port: 70000 }] }),
      makeService('a', 'badip', { clusterIP: '10.96.0.300', ports: [{ port: 80 }] }),
      makeService('a', 'badext', { clusterIP: '10.96.0.4', externalIPs: ['nope'], ports: [{ port: 80 }] }),
      makeService('a', 'noports', { clusterIP: '10.96.0.5' }),
      web(),
    ],
  });
  assert.deepEqual([...r.desired.virtualServers.keys()], ['TCP/10.96.0.20:80']);
  assert.deepEqual(r.warnings.map((w) => `${w.object} ${w.field}`), [
    'a/badport spec.ports[0].port', 'a/badip spec.clusterIP', 'a/badext spec.externalIPs[0]', 'a/noports spec.ports',
  ]);
});

test('per-Service scheduler annotation overrides the global one; invalid values warn and use the global', () => {
  const ann = (s: string, flags?: string) => ({ metadata: { namespace: 'shop', name: 'web', annotations: { 'ipvs.kube-ipvs.io/scheduler': s, ...(flags === undefined ? {} : { 'ipvs.kube-ipvs.io/scheduler-flags': flags }) } } });
  const sched = (r: ReturnType<typeof compute>) => ipvsLines(r)[0];
  assert.equal(sched(compute({ services: [web({}, ann('wlc'))] })), '-A -t 10.96.0.20:80 -s wlc');
  assert.equal(sched(compute({ services: [web({}, ann('mh', 'mh-fallback,mh-port'))] })), '-A -t 10.96.0.20:80 -s mh -b mh-fallback,mh-port');
  const bad = compute({ services: [web({}, ann('fastest'))] }, { ipvsScheduler: 'lc' });
  assert.equal(sched(bad), '-A -t 10.96.0.20:80 -s lc');
  assert.match(bad.warnings[0]?.message ?? '', /not an IPVS scheduler/);
  const badFlags = compute({ services: [web({}, ann('rr', 'mh-port'))] });
  assert.equal(sched(badFlags), '-A -t 10.96.0.20:80 -s rr');
  assert.equal(badFlags.warnings[0]?.field, 'metadata.annotations[ipvs.kube-ipvs.io/scheduler-flags]');
});

test('global mh scheduler hashes on the source port too, as kube-proxy does (-b mh-port)', () => {
  assert.equal(ipvsLines(compute({ services: [web()] }, { ipvsScheduler: 'mh' }))[0], '-A -t 10.96.0.20:80 -s mh -b mh-port');
});

test('two Services claiming one external IP:port: the first by namespace/name keeps it, the other is warned', () => {
  const a = makeService('a', 'one', { clusterIP: '10.96.0.2', externalIPs: ['203.0.113.5'], ports: [{ port: 80 }] });
  const b = makeService('b', 'two', { clusterIP: '10.96.0.3', externalIPs: ['203.0.113.5'], ports: [{ port: 80 }] });
  const r = compute({ services: [b, a] });
  assert.equal(r.desired.virtualServers.get('TCP/203.0.113.5:80')?.service.namespace, 'a');
  assert.match(r.warnings[0]?.message ?? '', /already used by Service a\/one/);
});
