// Active health checks, the pure half: the annotations, and check results as an input of the
// desired state (weight 0 for an endpoint held down, fail open when all are).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeService } from '../../../src/compute/k8s/decode.ts';
import { HEALTH_CHECK_DEFAULTS, parseHealthCheck } from '../../../src/compute/model/health-check.ts';
import { parseService } from '../../../src/compute/model/service.ts';
import { renderService } from '../../../src/compute/model/render.ts';
import { buildContext } from '../../../src/compute/model/context.ts';
import { mergeSlices, parseEndpointSlice } from '../../../src/compute/model/endpoints.ts';
import { computeDesired } from '../../../src/compute/model/compute-desired.ts';
import { config, ep, ipvsLines, makeService, makeSlice } from '../builders.ts';

const HC = 'ipvs.kube-ipvs.io/health-check';
const web = (annotations: Record<string, string>, ports = [{ name: 'http', port: 80, protocol: 'TCP' }]) =>
  makeService('shop', 'web', { clusterIP: '10.96.0.20', ports }, { metadata: { namespace: 'shop', name: 'web', annotations } });
const slice = (...eps: ReturnType<typeof ep>[]) => makeSlice('shop', 'web', eps, [{ name: 'http', port: 8080 }]);
const three = slice(ep('10.244.1.5'), ep('10.244.2.6'), ep('10.244.3.7'));

test('the check grammar: tcp, tcp:<port>, http:<path>, http:<port><path>; defaults 1s, 1s, 3, 2', () => {
  const d = HEALTH_CHECK_DEFAULTS;
  assert.deepEqual(parseHealthCheck({ [HC]: 'tcp' }, true), { spec: { kind: 'tcp', ...d }, problems: [] });
  assert.deepEqual(parseHealthCheck({ [HC]: 'tcp:8081' }, true).spec, { kind: 'tcp', port: 8081, ...d });
  assert.deepEqual(parseHealthCheck({ [HC]: 'http:/healthz' }, true).spec, { kind: 'http', path: '/healthz', ...d });
  assert.deepEqual(parseHealthCheck({ [HC]: ' http:8081/ready?full=1 ' }, true).spec, { kind: 'http', port: 8081, path: '/ready?full=1', ...d });
  assert.deepEqual(d, { intervalMs: 1000, timeoutMs: 1000, failureThreshold: 3, successThreshold: 2 });
  assert.deepEqual(parseHealthCheck({
    [HC]: 'tcp', [`${HC}-interval`]: '500ms', [`${HC}-timeout`]: '250ms',
    [`${HC}-failure-threshold`]: '1', [`${HC}-success-threshold`]: '5',
  }, true).spec, { kind: 'tcp', intervalMs: 500, timeoutMs: 250, failureThreshold: 1, successThreshold: 5 });
  assert.deepEqual(parseHealthCheck({}, true), { problems: [] });
  assert.deepEqual(parseHealthCheck(undefined, true), { problems: [] });
});

test('a bad health-check annotation: a warning naming the Service and the annotation, no check, the Service still proxied', () => {
  const cases: [Record<string, string>, string][] = [
    [{ [HC]: 'udp' }, HC],
    [{ [HC]: 'tcp:0' }, HC],
    [{ [HC]: 'tcp:http' }, HC],
    [{ [HC]: 'http:healthz' }, HC],
    [{ [HC]: 'http:99999/x' }, HC],
    [{ [HC]: 'http:/a b' }, HC],
    [{ [HC]: 'tcp', [`${HC}-interval`]: '1' }, `${HC}-interval`],
    [{ [HC]: 'tcp', [`${HC}-interval`]: '10ms' }, `${HC}-interval`],
    [{ [HC]: 'tcp', [`${HC}-timeout`]: '-1s' }, `${HC}-timeout`],
    [{ [HC]: 'tcp', [`${HC}-failure-threshold`]: '0' }, `${HC}-failure-threshold`],
    [{ [HC]: 'tcp', [`${HC}-success-threshold`]: '2.5' }, `${HC}-success-threshold`],
    [{ [`${HC}-interval`]: '2s' }, `${HC}-interval`],
  ];
  for (const [annotations, key] of cases) {
    const r = parseService(web(annotations), config());
    if (r.kind !== 'proxied') assert.fail(`${JSON.stringify(annotations)}: ${r.kind}`);
    assert.equal(r.info.healthCheck, undefined, JSON.stringify(annotations));
    assert.deepEqual(r.warnings.map((w) => [w.kind, w.object, w.field]), [['Service', 'shop/web', `metadata.annotations[${key}]`]], JSON.stringify(annotations));
    const out = computeDesired({ services: [web(annotations)], endpointSlices: [three], nodes: [] }, config(), undefined, new Map([['shop/web', new Set(['10.244.1.5'])]]));
    assert.equal(out.desired.virtualServers.size, 1, 'everything else unchanged');
    assert.ok(ipvsLines(out).every((l) => !l.endsWith('-w 0')), 'no endpoint held down without a valid check');
  }
});

test('a check without a port needs a TCP Service port; a UDP-only Service can name one', () => {
  const dns = [{ name: 'dns', port: 53, protocol: 'UDP' }];
  const bad = parseService(web({ [HC]: 'tcp' }, dns), config());
  assert.ok(bad.kind === 'proxied' && bad.info.healthCheck === undefined && bad.warnings.length === 1);
  const good = parseService(web({ [HC]: 'tcp:8053' }, dns), config());
  assert.ok(good.kind === 'proxied' && good.info.healthCheck?.port === 8053 && good.warnings.length === 0);
});

test('decode keeps the health-check annotations (it drops every annotation the proxy does not read)', () => {
  const annotations = {
    [HC]: 'http:/healthz', [`${HC}-interval`]: '2s', [`${HC}-timeout`]: '1s',
    [`${HC}-failure-threshold`]: '4', [`${HC}-success-threshold`]: '1', 'example.com/other': 'x',
  };
  const svc = decodeService(JSON.parse(JSON.stringify(web(annotations))));
  const kept = Object.fromEntries(Object.entries(annotations).filter(([k]) => k !== 'example.com/other'));
  assert.deepEqual(svc.metadata?.annotations, kept);
});

const down = (...ips: string[]) => new Map([['shop/web', new Set(ips)]]);

test('an endpoint held down by checks renders at weight 0 on every virtual server of the Service; others stay at 1', () => {
  const svc = web({ [HC]: 'tcp' });
  const r = computeDesired({ services: [svc], endpointSlices: [three], nodes: [] }, config(), undefined, down('10.244.2.6'));
  assert.deepEqual(ipvsLines(r), [
    '-A -t 10.96.0.20:80 -s rr',
    '-a -t 10.96.0.20:80 -r 10.244.1.5:8080 -m -w 1',
    '-a -t 10.96.0.20:80 -r 10.244.2.6:8080 -m -w 0',
    '-a -t 10.96.0.20:80 -r 10.244.3.7:8080 -m -w 1',
  ]);
  // The same results for a Service that has no check (or whose check was removed): ignored.
  const unchecked = computeDesired({ services: [web({})], endpointSlices: [three], nodes: [] }, config(), undefined, down('10.244.2.6'));
  assert.ok(ipvsLines(unchecked).every((l) => !l.endsWith('-w 0')));
});

test('fail open: when every endpoint of a port is held down, all keep weight 1', () => {
  const svc = web({ [HC]: 'tcp' });
  const r = computeDesired({ services: [svc], endpointSlices: [three], nodes: [] }, config(), undefined, down('10.244.1.5', '10.244.2.6', '10.244.3.7'));
  assert.deepEqual(ipvsLines(r).filter((l) => l.startsWith('-a')).map((l) => l.slice(-4)), ['-w 1', '-w 1', '-w 1']);
  const two = computeDesired({ services: [svc], endpointSlices: [three], nodes: [] }, config(), undefined, down('10.244.1.5', '10.244.3.7'));
  assert.deepEqual(ipvsLines(two).filter((l) => l.startsWith('-a')).map((l) => l.slice(-4)), ['-w 0', '-w 1', '-w 0']);
});

test('probe targets: ready endpoints only, on the first TCP port\'s endpoint port or the port the check names', () => {
  const ports = [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'http', port: 80, protocol: 'TCP' }];
  const es = makeSlice('shop', 'web', [ep('10.244.1.5'), ep('10.244.2.6', { ready: false }), ep('10.244.3.7', { ready: true, terminating: false })],
    [{ name: 'dns', port: 5353, protocol: 'UDP' }, { name: 'http', port: 8080 }]);
  const ctx = buildContext(config(), undefined);
  const render = (annotations: Record<string, string>) => {
    const p = parseService(web(annotations, ports), config());
    if (p.kind !== 'proxied') assert.fail(p.kind);
    const s = parseEndpointSlice(es);
    if (s.kind !== 'parsed') throw new Error('unreachable');
    return renderService(p.info, mergeSlices([s.slice]), ctx).probes;
  };
  const targets = (annotations: Record<string, string>) => [...(render(annotations)?.targets.values() ?? [])].map((t) => `${t.ip.text}:${t.port}`).sort();
  assert.deepEqual(targets({ [HC]: 'tcp' }), ['10.244.1.5:8080', '10.244.3.7:8080']);
  assert.deepEqual(targets({ [HC]: 'http:9000/healthz' }), ['10.244.1.5:9000', '10.244.3.7:9000']);
  assert.equal(render({}), undefined);
});
