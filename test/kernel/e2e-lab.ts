// Shared by the end-to-end tests (test/kernel/e2e-*.vmtest.ts): the real `kube-ipvs` process
// (src/cli/main.ts, not --dry-run) watching the test API server, which runs in the test process;
// both live in the test file's own network namespace inside the VM, so the fixed ports
// (healthz 10256, metrics 10249) are private to the file. Assertions read the kernel and
// traffic; the daemon's logs are kept only to explain a failure.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { start, type KubeObject, type TestApiServer } from '../support/apiserver/index.ts';
import { netnsBehindVeth, sh, startBackend, type Backend } from './lab.ts';

export const NS = 'e2e';
export const NODE = 'node-a';
export const NODE_IP = '192.168.1.10';
const MAIN = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
const NODE_BIN = join(import.meta.dirname, '..', '..', 'node_modules', '.bin', 'node');

// ---- the API server and objects ----

export async function startApi(): Promise<TestApiServer> {
  const api = await start();
  api.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: NODE, labels: { 'kubernetes.io/hostname': NODE } }, status: { addresses: [{ type: 'InternalIP', address: NODE_IP }] } });
  return api;
}

export interface Port { readonly name?: string; readonly port: number; readonly targetPort?: number; readonly protocol?: 'TCP' | 'UDP'; readonly nodePort?: number }

/** A Service in namespace e2e; `spec` is merged over a ClusterIP Service with one HTTP port. */
export function svc(name: string, clusterIP: string, spec: Record<string, unknown> = {}, meta: { annotations?: Record<string, string>; lbIps?: readonly string[] } = {}): KubeObject {
  return {
    apiVersion: 'v1', kind: 'Service',
    metadata: { namespace: NS, name, labels: {}, ...(meta.annotations === undefined ? {} : { annotations: meta.annotations }) },
    spec: { type: 'ClusterIP', clusterIP, ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 }], ...spec },
    ...(meta.lbIps === undefined ? {} : { status: { loadBalancer: { ingress: meta.lbIps.map((ip) => ({ ip })) } } }),
  };
}

export interface Endpoint { readonly ip: string; readonly node?: string; readonly ready?: boolean }

/** The EndpointSlice `${service}-1`: endpoints given as IPs (ready, on this node) or in full. */
export function slice(service: string, endpoints: readonly (string | Endpoint)[], ports: readonly Port[] = [{ name: 'http', port: 8080 }]): KubeObject {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { namespace: NS, name: `${service}-1`, labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    endpoints: endpoints.map((e) => (typeof e === 'string' ? { ip: e } : e)).map((e) => ({
      addresses: [e.ip], conditions: { ready: e.ready ?? true }, nodeName: e.node ?? NODE,
    })),
    ports: ports.map((p) => ({ name: p.name ?? 'http', protocol: p.protocol ?? 'TCP', port: p.port })),
  };
}

/** The backend `n` of lab.ts (netns be<n>, 10.244.<n>.5). */
export const be = (n: number): string => `10.244.${n}.5`;

// ---- the daemon process ----

let diagnostics = (): string => '';

/**
 * Under QEMU's software emulation a node process now and then dies at start-up with a V8 fatal
 * error (`# Fatal error in … Check failed`) or by a crash signal with nothing on stderr, an
 * emulation fault rather than a test result (see run-isolated.ts): such a start is tried once
 * more, saying so.
 */
const V8_FATAL = /^# Fatal error in /m;
/** Signals the node binary itself dies by when emulation faults it; the daemon never raises them. */
const CRASH_SIGNALS = new Set(['SIGSEGV', 'SIGILL', 'SIGTRAP', 'SIGBUS']);
const crashed = (stderr: string, signal: string | null): boolean => V8_FATAL.test(stderr) || (signal !== null && CRASH_SIGNALS.has(signal));
/** What the crash looked like: the V8 check that failed, or the signal. */
const evidence = (stderr: string, signal: string | null): string =>
  /^# (Check failed.*)$/m.exec(stderr)?.[1] ?? /^# (Fatal error in .*)$/m.exec(stderr)?.[1] ?? `signal ${String(signal)}`;
const again = (what: string, why: string): void => { console.log(`# ${what} died of an emulation fault (${why}); once more`); };

/** lab.ts's startBackend, tried once more after a V8 fatal error at start-up. */
export async function startBackendOnce(n: number): Promise<Backend> {
  try {
    return await startBackend(n);
  } catch {
    tryRun('ip', 'netns', 'del', `be${n}`); // its veth pair goes with it
    again(`backend be${n}`, 'its start failed');
    return startBackend(n);
  }
}

export class KubeIpvs {
  readonly #args: readonly string[];
  #proc: ChildProcess | undefined;
  #logs = '';
  #procLogs = '';
  #exit: Promise<{ code: number | null; signal: string | null }> = Promise.resolve({ code: null, signal: null });
  #exited = true;
  #exitSignal: string | null = null;

  constructor(api: TestApiServer, flags: readonly string[] = []) {
    // kube-proxy's default --conntrack-max-per-core: nf_conntrack_max is read-only in the test's
    // network namespace, which kube-ipvs reports and goes on without.
    this.#args = [MAIN, '--proxy-mode=ipvs', '--kubeconfig', api.kubeconfigPath, `--hostname-override=${NODE}`, '--cluster-cidr=10.244.0.0/16', ...flags];
    diagnostics = () => this.logTail();
  }

  /** The flags it runs with, for showing. */
  get flags(): readonly string[] { return this.#args.slice(1); }

  /** Whether the last process started is still running. */
  get running(): boolean { return this.#proc !== undefined && !this.#exited; }

  start(): void {
    const proc = spawn(NODE_BIN, this.#args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.#procLogs = '';
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (c: string) => {
      this.#logs = (this.#logs + c).slice(-200_000);
      this.#procLogs = (this.#procLogs + c).slice(-20_000);
    });
    this.#exited = false;
    this.#exit = new Promise((resolve) => {
      proc.once('exit', (code, signal) => { this.#exited = true; this.#exitSignal = signal; resolve({ code, signal }); });
    });
    this.#proc = proc;
  }

  /** Sends `signal` and waits for the exit; a process still there after `timeoutMs` is killed and that is an error. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 60_000): Promise<{ code: number | null; signal: string | null }> {
    const proc = this.#proc;
    proc?.kill(signal);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => { resolve('late'); }, timeoutMs); });
    const r = await Promise.race([this.#exit, late]);
    clearTimeout(timer);
    this.#proc = undefined;
    if (r === 'late') {
      proc?.kill('SIGKILL');
      throw new Error(`kube-ipvs did not exit within ${timeoutMs} ms of ${signal}:\n${this.logTail()}`);
    }
    return r;
  }

  /**
   * Waits for a start that must fail to end by itself, and returns how it ended. A start that
   * died of an emulation fault instead is run once more, saying so.
   */
  async exitedByItself(timeoutMs = 240_000): Promise<{ code: number | null; signal: string | null }> {
    for (let attempt = 0; ; attempt++) {
      await waitFor(() => this.running, (running) => !running, 'kube-ipvs to exit', timeoutMs, 500);
      const r = await this.#exit;
      this.#proc = undefined;
      if (attempt > 0 || !crashed(this.#procLogs, r.signal)) return r;
      again('kube-ipvs', evidence(this.#procLogs, r.signal));
      this.start();
    }
  }

  get logs(): string { return this.#logs; }
  logTail(lines = 25): string { return this.#logs.split('\n').slice(-lines).join('\n'); }

  /**
   * Waits until the process has completed a successful full sync (the first one at start).
   * Generous: loading @kubernetes/client-node alone took 20-90 s here under emulation.
   */
  async synced(timeoutMs = 240_000): Promise<void> {
    const first = (): Promise<number> => waitFor(async () => {
      if (this.#exited) throw new Error(`kube-ipvs exited before its first sync:\n${this.logTail()}`);
      return metric('kubeipvs_syncs_total', { kind: 'full', result: 'success' });
    }, (n) => n >= 1, 'the first full sync', timeoutMs);
    try {
      await first();
    } catch (e) {
      if (!this.#exited || !crashed(this.#procLogs, this.#exitSignal)) throw e;
      again('kube-ipvs', evidence(this.#procLogs, this.#exitSignal));
      this.start();
      await first();
    }
  }
}

/** Runs `kube-ipvs ARGS…` to completion (e.g. --cleanup-ipvs): its exit code (or the signal that ended it) and stderr. */
export function runOnce(...args: string[]): { code: number | null; signal: string | null; stderr: string } {
  const run = () => spawnSync(NODE_BIN, [MAIN, ...args], { encoding: 'utf8', timeout: 300_000 });
  let r = run();
  if (crashed(r.stderr, r.signal)) {
    again(`kube-ipvs ${args.join(' ')}`, evidence(r.stderr, r.signal));
    r = run();
  }
  return { code: r.status, signal: r.signal, stderr: r.stderr };
}

// ---- observing: metrics, health, waiting ----

/** A sample from the daemon's /metrics (summed over series carrying `labels`); NaN when unreachable. */
export async function metric(name: string, labels: Record<string, string> = {}): Promise<number> {
  let text: string;
  try {
    text = await (await fetch('http://127.0.0.1:10249/metrics')).text();
  } catch {
    return Number.NaN;
  }
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m?.[1] === name && want.every((w) => (m[2] ?? '').includes(w))) sum += Number(m[3]);
  }
  return sum;
}

/** Status and body of an HTTP GET, or status 0 when nothing answers. */
export async function httpStatus(url: string): Promise<{ status: number; body: string }> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(3000) });
    return { status: r.status, body: await r.text() };
  } catch {
    return { status: 0, body: '' };
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until `ok`; throws with the last value and the daemon's last log lines on timeout. */
export async function waitFor<T>(fn: () => T | Promise<T>, ok: (v: T) => boolean, what: string, timeoutMs = 30_000, everyMs = 200): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(v)}\n--- kube-ipvs log tail ---\n${diagnostics()}`);
    await sleep(everyMs);
  }
}

// ---- the kernel ----

/** `cmd argv…` output, or undefined when it fails. */
export function tryRun(cmd: string, ...argv: string[]): string | undefined {
  const r = spawnSync(cmd, argv, { encoding: 'utf8' });
  return r.status === 0 ? r.stdout : undefined;
}

/** `ipvsadm -Sn` as sorted lines. */
export const ipvsSave = (): string[] => sh('ipvsadm', '-Sn').split('\n').filter((l) => l !== '').sort();

export interface RealServer { readonly addr: string; readonly weight: number; readonly active: number; readonly inactive: number }

/** Real servers of one virtual server (`t` TCP, `u` UDP); undefined when it does not exist. */
export function realServers(vip: string, proto: 't' | 'u' = 't'): RealServer[] | undefined {
  const out = tryRun('ipvsadm', '-Ln', `-${proto}`, vip);
  if (out === undefined) return undefined;
  return [...out.matchAll(/^\s+-> (\S+)\s+\w+\s+(\d+)\s+(\d+)\s+(\d+)/gm)].map((m) => ({
    addr: m[1]!, weight: Number(m[2]), active: Number(m[3]), inactive: Number(m[4]),
  }));
}

/** Sorted real-server addresses of a virtual server; [] when it does not exist. */
export const rsAddrs = (vip: string, proto: 't' | 'u' = 't'): string[] => (realServers(vip, proto) ?? []).map((r) => r.addr).sort();

/** `-A` rules of iptables-save and ip6tables-save (the system's backend, as the daemon uses it). */
export const rules = (): string[] =>
  ['iptables-save', 'ip6tables-save'].flatMap((bin) => sh(bin).split('\n').filter((l) => l.startsWith('-A ')).map((l) => `${bin}: ${l}`));

// ---- traffic ----

/** One HTTP GET on a new connection from the node; the backend's name or `error: …`. */
export function fetchName(url: string, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => { resolve(body); });
      res.on('error', (e) => { resolve(`error: ${e.message}`); });
    });
    req.on('timeout', () => { req.destroy(new Error('timeout')); });
    req.on('error', (e) => { resolve(`error: ${e.message}`); });
    req.end();
  });
}

export async function names(url: string, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(await fetchName(url));
  return out;
}

/** One kept-alive HTTP connection: every get() reuses the same socket (and so the same backend). */
export class KeepAlive {
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 1 });
  readonly #url: string;
  localPort = 0;
  constructor(url: string) { this.#url = url; }

  get(path = '/'): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = request(new URL(path, this.#url), { agent: this.#agent, timeout: 5000 }, (res) => {
        this.localPort = res.socket.localPort ?? 0;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => { body += c; });
        res.on('end', () => { resolve(body); });
      });
      req.on('timeout', () => { req.destroy(new Error('timeout')); });
      req.on('error', reject);
      req.end();
    });
  }

  close(): void { this.#agent.destroy(); }
}

export interface Client { readonly ns: string; readonly ip: string }

/** A client in netns cl<n> at 172.20.<n>.2, routed through 172.20.<n>.1 on the node. */
export function addClient(n: number): Client {
  const ns = `cl${n}`;
  netnsBehindVeth(ns, `172.20.${n}.1`, `172.20.${n}.2`);
  return { ns, ip: `172.20.${n}.2` };
}

export function removeClient(c: Client): void { tryRun('ip', 'netns', 'del', c.ns); }

/** curl from a client's netns: the body, or `error` when it failed or timed out. */
export function curlFrom(c: Client, url: string, timeoutS = 3): string {
  return tryRun('ip', 'netns', 'exec', c.ns, 'curl', '-fsS', '-m', String(timeoutS), url) ?? 'error';
}
