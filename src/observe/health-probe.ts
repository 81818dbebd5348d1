// One active health probe from the node's own network namespace, with node's sockets: no
// process per probe. TCP: a connection that opens within the timeout (then reset, so 10,000
// probes a second leave no TIME_WAIT sockets behind). HTTP: GET on a kept-alive connection per
// endpoint, 2xx/3xx within the timeout; a closed connection is opened again, and a refused or
// silent one fails the probe (a server that stopped, or packets dropped, are both seen).
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import type { HealthCheckSpec } from '../compute/model/health-check.ts';
import type { Ip } from '../compute/net/ip.ts';

export interface ProbeRequest {
  readonly spec: HealthCheckSpec;
  readonly ip: Ip;
  readonly port: number;
}

/** Resolves true for a healthy answer, false otherwise; never rejects. */
export type ProbeFn = (r: ProbeRequest) => Promise<boolean>;

/** No keep-alive socket outlives a probe interval by much: one per endpoint, reused. */
const agent = new Agent({ keepAlive: true, maxSockets: 1, maxFreeSockets: 1, keepAliveMsecs: 1000, scheduling: 'lifo' });

export function probeTcp(ip: Ip, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: ip.text, port, family: ip.family });
    const timer = setTimeout(() => { socket.destroy(); resolve(false); }, timeoutMs);
    socket.once('connect', () => { clearTimeout(timer); socket.resetAndDestroy(); resolve(true); });
    socket.once('error', () => { clearTimeout(timer); socket.destroy(); resolve(false); });
  });
}

export function probeHttp(ip: Ip, port: number, path: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (ok: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(ok);
    };
    const req = request({ host: ip.text, family: ip.family, port, path, method: 'GET', agent, headers: { 'user-agent': 'kube-ipvs-health-check' } }, (res) => {
      const code = res.statusCode ?? 0;
      // Read the body to its end, so the connection can carry the next probe.
      res.resume();
      res.once('end', () => { finish(code >= 200 && code < 400); });
      res.once('error', () => { finish(false); });
    });
    // A silent endpoint: the request (and its socket) go, the next probe connects again.
    const timer = setTimeout(() => { req.destroy(); finish(false); }, timeoutMs);
    req.once('error', () => { finish(false); });
    req.end();
  });
}

export const probe: ProbeFn = (r) => (r.spec.kind === 'tcp'
  ? probeTcp(r.ip, r.port, r.spec.timeoutMs)
  : probeHttp(r.ip, r.port, r.spec.path ?? '/', r.spec.timeoutMs));
