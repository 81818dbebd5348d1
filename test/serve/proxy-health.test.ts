import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { goTime, GO_ZERO_TIME } from '../../src/serve/go-time.ts';
import type { Listening } from '../../src/serve/listen.ts';
import { createMetrics } from '../../src/serve/metrics.ts';
import { ProxyHealth, startHealthServer } from '../../src/serve/proxy-health.ts';
import { get } from './http.ts';

const T0 = Date.UTC(2025, 0, 2, 3, 4, 5, 678);
const PERIOD = 30_000;

describe('goTime', () => {
  test('prints Go RFC 3339 with trimmed fractions, zero time for never', () => {
    assert.equal(goTime(undefined), GO_ZERO_TIME);
    assert.equal(goTime(T0), '2025-01-02T03:04:05.678Z');
    assert.equal(goTime(Date.UTC(2025, 0, 2, 3, 4, 5)), '2025-01-02T03:04:05Z');
    assert.equal(goTime(Date.UTC(2025, 0, 2, 3, 4, 5, 500)), '2025-01-02T03:04:05.5Z');
    assert.equal(goTime(Date.UTC(2025, 0, 2, 3, 4, 5) + 0.012), '2025-01-02T03:04:05.000012Z');
  });
});

describe('ProxyHealth rules', () => {
  const setup = (): { h: ProxyHealth; clock: { t: number; now(): number } } => {
    const clock = { t: T0, now() { return this.t; } };
    return { h: new ProxyHealth({ syncPeriodMs: PERIOD, clock }), clock };
  };

  test('healthy before the first sync, however long a queued change waits (kube-proxy)', () => {
    const { h, clock } = setup();
    h.queued();
    clock.t += 10 * PERIOD;
    assert.equal(h.isHealthy(), true);
    assert.equal(h.health().lastUpdated, undefined);
  });

  test('unhealthy exactly when the oldest queued change is 2×syncPeriod old', () => {
    const { h, clock } = setup();
    h.updated();
    clock.t += 1000;
    h.queued();
    clock.t += 5000;
    h.queued(); // a later change does not restart the wait
    clock.t += 2 * PERIOD - 5001;
    assert.equal(h.isHealthy(), true);
    clock.t += 1;
    assert.equal(h.isHealthy(), false);
    h.updated();
    assert.equal(h.isHealthy(), true);
    clock.t += 10 * PERIOD; // nothing queued: idle is healthy
    assert.equal(h.isHealthy(), true);
  });

  test('node deletion, autoscaler taint and a vanished Node make the node ineligible, not the proxier unhealthy', () => {
    const { h } = setup();
    assert.equal(h.health().nodeEligible, true);
    h.syncNode({ metadata: { deletionTimestamp: new Date(T0) } });
    assert.deepEqual([h.health().nodeEligible, h.isHealthy()], [false, true]);
    h.syncNode({ metadata: {}, spec: { taints: [{ key: 'ToBeDeletedByClusterAutoscaler' }] } });
    assert.equal(h.health().nodeEligible, false);
    h.syncNode({ metadata: {}, spec: { taints: [{ key: 'other' }] } });
    assert.equal(h.health().nodeEligible, true);
    h.syncNode(undefined);
    assert.equal(h.health().nodeEligible, false);
  });

  test('per family: only families that synced are judged', () => {
    const clock = { t: T0, now() { return this.t; } };
    const h = new ProxyHealth({ syncPeriodMs: PERIOD, clock, families: ['IPv4', 'IPv6'] });
    h.updated('IPv6');
    h.queued();
    clock.t += 2 * PERIOD;
    const r = h.health();
    assert.equal(r.healthy, false);
    assert.deepEqual([...r.status], [['IPv6', { lastUpdated: T0, healthy: false }]]);
  });
});

describe('health HTTP server', () => {
  const clock = { t: T0, now() { return this.t; } };
  const health = new ProxyHealth({ syncPeriodMs: PERIOD, clock });
  const metrics = createMetrics({ defaultMetrics: false });
  let server: Listening;
  let base = '';
  before(async () => {
    server = await startHealthServer('127.0.0.1:0', health, metrics);
    base = `http://127.0.0.1:${server.address.port}`;
  });
  after(() => server.close());

  const now = (): string => goTime(clock.t);

  test('before the first applied sync: /healthz and /readyz 503, /livez 200 (a slow first sync is not killed)', async () => {
    const r = await get(`${base}/healthz`);
    assert.equal(r.status, 503);
    assert.equal(r.headers.get('content-type'), 'application/json');
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(r.body, `{"lastUpdated":"${GO_ZERO_TIME}","currentTime":"${now()}","nodeEligible":true,"healthy":true}`);
    assert.equal((await get(`${base}/readyz`)).status, 503);
    const l = await get(`${base}/livez`);
    assert.equal(l.status, 200);
    assert.equal(l.body, `{"lastUpdated":"${now()}","currentTime":"${now()}","healthy":true}`);
  });

  test('queued and not applied for 2×syncPeriod → 503 on both; applied → 200', async () => {
    const synced = clock.t;
    health.updated();
    clock.t += 1000;
    health.queued();
    clock.t += 2 * PERIOD;
    const r = await get(`${base}/healthz`);
    assert.equal(r.status, 503);
    assert.equal(r.body, `{"lastUpdated":"${goTime(synced)}","currentTime":"${now()}","nodeEligible":true,"healthy":false,`
      + `"status":{"IPv4":{"lastUpdated":"${goTime(synced)}","healthy":false}}}`);
    assert.equal((await get(`${base}/livez`)).status, 503);
    health.updated();
    clock.t += 5;
    const ok = await get(`${base}/healthz`);
    assert.equal(ok.status, 200);
    assert.equal((await get(`${base}/readyz`)).status, 200);
    assert.equal(ok.body, `{"lastUpdated":"${now()}","currentTime":"${now()}","nodeEligible":true,"healthy":true,`
      + `"status":{"IPv4":{"lastUpdated":"${goTime(clock.t - 5)}","healthy":true}}}`);
  });

  test('Node being deleted → /healthz 503 with nodeEligible false; /livez still 200', async () => {
    health.syncNode({ metadata: { deletionTimestamp: '2025-01-02T03:04:05Z' } });
    const r = await get(`${base}/healthz`);
    assert.equal(r.status, 503);
    assert.match(r.body, /"nodeEligible":false,"healthy":true/);
    const l = await get(`${base}/livez?verbose`);
    assert.equal(l.status, 200);
    assert.doesNotMatch(l.body, /nodeEligible/);
    health.syncNode({ metadata: {} });
    assert.equal((await get(`${base}/healthz`)).status, 200);
  });

  test('other paths are 404, as Go ServeMux', async () => {
    const r = await get(`${base}/metrics`);
    assert.equal(r.status, 404);
    assert.equal(r.body, '404 page not found\n');
  });

  test('requests are counted by code', async () => {
    const values = async (name: string): Promise<Record<string, number>> =>
      Object.fromEntries((await metrics.registry.getSingleMetric(name)!.get()).values.map((v) => [String(v.labels.code), v.value]));
    assert.deepEqual(await values('kubeproxy_proxy_healthz_total'), { 200: 2, 503: 3 });
    assert.deepEqual(await values('kubeproxy_proxy_livez_total'), { 200: 2, 503: 1 });
  });
});
