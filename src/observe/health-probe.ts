// One active health probe from the node's own network namespace, with node's sockets: no
// process per probe. TCP: a connection that opens within the timeout (then reset, so 10,000
// probes a second leave no TIME_WAIT sockets behind). HTTP (http-probe.ts): GET on a kept-alive
// connection per endpoint, 2xx/3xx within the timeout; a closed connection is opened again, and
// a refused or silent one fails the probe (a server that stopped, or packets dropped, are both seen).
import { connect } from 'node:net';
import type { HealthCheckSpec } from '../compute/model/health-check.ts';
import type { Ip } from '../compute/net/ip.ts';
import { probeHttpRaw } from './http-probe.ts';

export interface ProbeRequest {
  readonly spec: HealthCheckSpec;
  readonly ip: Ip;
  readonly port: number;
}

/** Resolves true for a healthy answer, false otherwise; never rejects. */
export type ProbeFn = (r: ProbeRequest) => Promise<boolean>;

export function probeTcp(ip: Ip, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: ip.text, port, family: ip.family });
    const timer = setTimeout(() => { socket.destroy(); resolve(false); }, timeoutMs);
    socket.once('connect', () => { clearTimeout(timer); socket.resetAndDestroy(); resolve(true); });
    socket.once('error', () => { clearTimeout(timer); socket.destroy(); resolve(false); });
  });
}

export const probe: ProbeFn = (r) => (r.spec.kind === 'tcp'
  ? probeTcp(r.ip, r.port, r.spec.timeoutMs)
  : probeHttpRaw(r.ip, r.port, r.spec.path ?? '/', r.spec.timeoutMs));
