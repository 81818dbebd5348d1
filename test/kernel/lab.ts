// A small lab inside the VM: backends in network namespaces behind veth pairs, a dummy
// "node" interface holding the node address, and clients for HTTP (fresh or kept-alive
// connections) and UDP. Everything here runs only under test/vm/run.sh.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { Agent, request } from 'node:http';
import { join } from 'node:path';

export const sh = (cmd: string, ...argv: string[]): string => execFileSync(cmd, argv, { encoding: 'utf8' });
const node = join(import.meta.dirname, '..', '..', 'node_modules', '.bin', 'node');

/**
 * Network namespace `ns` whose eth0 (`ip`/24) is a veth to the node (`veth-<ns>`, `gateway`/24),
 * its default route through the node.
 */
export function netnsBehindVeth(ns: string, gateway: string, ip: string): void {
  sh('ip', 'netns', 'add', ns);
  sh('ip', 'link', 'add', `veth-${ns}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
  sh('ip', 'addr', 'add', `${gateway}/24`, 'dev', `veth-${ns}`);
  sh('ip', 'link', 'set', `veth-${ns}`, 'up');
  sh('ip', '-n', ns, 'link', 'set', 'lo', 'up');
  sh('ip', '-n', ns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0');
  sh('ip', '-n', ns, 'link', 'set', 'eth0', 'up');
  sh('ip', '-n', ns, 'route', 'add', 'default', 'via', gateway);
}

export interface Backend { readonly name: string; readonly ip: string; readonly proc: ChildProcess }

/** Backend `n` lives in netns be<n> at 10.244.<n>.5, routed through 10.244.<n>.1 on the node. */
export async function startBackend(n: number): Promise<Backend> {
  const ns = `be${n}`;
  netnsBehindVeth(ns, `10.244.${n}.1`, `10.244.${n}.5`);
  const proc = spawn('ip', ['netns', 'exec', ns, node, join(import.meta.dirname, 'backend-server.ts'), ns, '8080', '5353'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    proc.stdout.once('data', () => { resolve(); });
    proc.once('exit', (code) => { reject(new Error(`backend ${ns} exited ${String(code)}`)); });
  });
  return { name: ns, ip: `10.244.${n}.5`, proc };
}

export function stopBackend(b: Backend): void {
  b.proc.kill();
  sh('ip', 'netns', 'del', b.name);
}

/** The node's own address, on a dummy interface so NodePorts have somewhere to listen. */
export function addNodeAddress(ip: string): void {
  sh('ip', 'link', 'add', 'node0', 'type', 'dummy');
  sh('ip', 'addr', 'add', `${ip}/32`, 'dev', 'node0');
  sh('ip', 'link', 'set', 'node0', 'up');
}

export function get(url: string, agent?: Agent): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: agent ?? false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => { resolve(body); });
    });
    req.on('timeout', () => { req.destroy(new Error(`timeout: ${url}`)); });
    req.on('error', reject);
    req.end();
  });
}

/** One datagram from a fixed source port; resolves with the answer or 'timeout'. */
export function udpQuery(ip: string, port: number, fromPort: number, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    const done = (v: string): void => { clearTimeout(t); s.close(); resolve(v); };
    const t = setTimeout(() => { done('timeout'); }, timeoutMs);
    s.on('message', (m) => { done(m.toString()); });
    s.bind(fromPort, () => { s.send('q', port, ip); });
  });
}

export async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 500));
  }
}
