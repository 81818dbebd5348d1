import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, test } from 'node:test';
import { healthBody, ServiceHealthServer } from '../../src/serve/service-health.ts';
import { freePort, get, holdPort } from './http.ts';

const proxy = { healthy: true, isHealthy() { return this.healthy; } };
const servers: ServiceHealthServer[] = [];
const make = (): ServiceHealthServer => {
  const s = new ServiceHealthServer({ proxyHealth: proxy, addresses: ['127.0.0.1'] });
  servers.push(s);
  return s;
};
afterEach(async () => {
  proxy.healthy = true;
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const url = (port: number): string => `http://127.0.0.1:${port}/healthz`;
const refused = async (port: number): Promise<void> => {
  await assert.rejects(get(url(port)), (e: Error) => (e.cause as NodeJS.ErrnoException).code === 'ECONNREFUSED');
};

/** One raw request on an already open socket: proves the listener was not re-created. */
function requestOn(sock: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    sock.on('data', (d: Buffer) => { data += d.toString(); if (data.includes('}')) resolve(data); });
    sock.once('error', reject);
    sock.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  });
}

describe('ServiceHealthServer', () => {
  test('kube-proxy body, byte for byte', () => {
    assert.equal(healthBody('kube-system', 'dns', 2, true),
      '{\n\t"service": {\n\t\t"namespace": "kube-system",\n\t\t"name": "dns"\n\t},\n\t"localEndpoints": 2,\n\t"serviceProxyHealthy": true\n}');
  });

  test('200 with local endpoints and a healthy proxy, else 503; headers as kube-proxy', async () => {
    const [p1, p2] = [await freePort(), await freePort()];
    const s = make();
    assert.deepEqual(await s.sync([{ service: 'ns/web', nodePort: p1, localEndpoints: 2 }, { service: 'ns/api', nodePort: p2, localEndpoints: 0 }]), []);
    const ok = await get(url(p1));
    assert.equal(ok.status, 200);
    assert.equal(ok.body, healthBody('ns', 'web', 2, true));
    assert.equal(ok.headers.get('content-type'), 'application/json');
    assert.equal(ok.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(ok.headers.get('x-load-balancing-endpoint-weight'), '2');
    const none = await get(url(p2));
    assert.equal(none.status, 503);
    assert.equal(none.body, healthBody('ns', 'api', 0, true));
    proxy.healthy = false;
    const sick = await get(url(p1));
    assert.equal(sick.status, 503);
    assert.equal(sick.body, healthBody('ns', 'web', 2, false));
  });

  test('listens only on the given node addresses (--nodeport-addresses) and follows them when they change', async () => {
    const port = await freePort();
    const s = make();
    const at = (host: string): string => `http://${host}:${port}/healthz`;
    const refusedAt = (host: string): Promise<void> =>
      assert.rejects(get(at(host)), (e: Error) => (e.cause as NodeJS.ErrnoException).code === 'ECONNREFUSED');
    const spec = [{ service: 'ns/web', nodePort: port, localEndpoints: 1 }];
    assert.deepEqual(await s.sync(spec), []);
    assert.equal((await get(at('127.0.0.1'))).status, 200);
    await refusedAt('127.0.0.2');
    assert.deepEqual(await s.sync(spec, ['127.0.0.2']), []);
    assert.equal((await get(at('127.0.0.2'))).status, 200);
    await refusedAt('127.0.0.1');
    assert.deepEqual(await s.sync(spec, 'all'), []);
    assert.equal((await get(at('127.0.0.1'))).status, 200);
    assert.equal((await get(at('127.0.0.2'))).status, 200, 'all: every address');
  });

  test('counts change without reopening; removed ports close; a moved port reopens', async () => {
    const [p1, p2] = [await freePort(), await freePort()];
    const s = make();
    await s.sync([{ service: 'ns/web', nodePort: p1, localEndpoints: 1 }]);
    const sock = connect(p1, '127.0.0.1');
    await new Promise((resolve) => sock.once('connect', resolve));
    await s.sync([{ service: 'ns/web', nodePort: p1, localEndpoints: 0 }]);
    const raw = await requestOn(sock);
    sock.destroy();
    assert.match(raw, /^HTTP\/1\.1 503 /);
    assert.match(raw, /"localEndpoints": 0/);
    await s.sync([{ service: 'ns/web', nodePort: p2, localEndpoints: 3 }]);
    await refused(p1);
    assert.equal((await get(url(p2))).status, 200);
    assert.deepEqual([...s.ports()], [['ns/web', p2]]);
    await s.sync([]);
    await refused(p2);
    assert.equal(s.ports().size, 0);
  });

  test('a busy port is reported, the others still open, and it is retried on the next sync', async () => {
    const busy = await holdPort();
    const free = await freePort();
    const s = make();
    const failures = await s.sync([
      { service: 'ns/taken', nodePort: busy.port, localEndpoints: 1 },
      { service: 'ns/web', nodePort: free, localEndpoints: 1 },
    ]);
    assert.equal(failures.length, 1);
    assert.deepEqual([failures[0]!.service, failures[0]!.nodePort, failures[0]!.address], ['ns/taken', busy.port, '127.0.0.1']);
    assert.equal((failures[0]!.error as NodeJS.ErrnoException).code, 'EADDRINUSE');
    assert.equal((await get(url(free))).status, 200);
    await busy.close();
    assert.deepEqual(await s.sync([
      { service: 'ns/taken', nodePort: busy.port, localEndpoints: 1 },
      { service: 'ns/web', nodePort: free, localEndpoints: 1 },
    ]), []);
    assert.equal((await get(url(busy.port))).status, 200);
  });

  test('close() closes every port', async () => {
    const p = await freePort();
    const s = make();
    await s.sync([{ service: 'ns/web', nodePort: p, localEndpoints: 1 }]);
    await s.close();
    await refused(p);
  });
});
