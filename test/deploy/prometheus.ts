// The real Prometheus tools from Debian's `prometheus` package (test/deploy/setup.sh installs
// it): promtool, and a Prometheus server on loopback that a test points at its own targets and
// queries through the HTTP API.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort } from '../support/ports.ts';

const INSTALL = 'run test/deploy/setup.sh (it installs Debian\'s `prometheus` package: apt-get install prometheus)';

/** Runs a tool of the prometheus package; fails saying how to install it when it is missing. */
export function tool(name: 'promtool' | 'prometheus', args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(name, args, { encoding: 'utf8', timeout: 60_000 });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') throw new Error(`${name} not found: ${INSTALL}`);
  if (r.error !== undefined) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export interface Sample { readonly metric: Record<string, string>; readonly value: [number, string] }

export interface RunningPrometheus {
  readonly url: string;
  /** An instant query; throws on a query error (a bad expression, an unknown function). */
  query(expr: string): Promise<Sample[]>;
  /** The rules Prometheus loaded, with their health ("ok" once evaluated without error). */
  rules(): Promise<{ name: string; health: string; lastError?: string }[]>;
  stop(): Promise<void>;
}

interface ApiReply<T> { status: string; data: T; error?: string; errorType?: string }

async function api<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const body = await res.json() as ApiReply<T>;
  if (body.status !== 'success') throw new Error(`${url}: ${body.errorType ?? ''} ${body.error ?? ''}`);
  return body.data;
}

/** Prometheus scraping `targets` as job `job` every second, with `rules` (a rules file's object) loaded. */
export async function startPrometheus(job: string, targets: readonly string[], rules: unknown): Promise<RunningPrometheus> {
  tool('prometheus', ['--version']);
  const dir = mkdtempSync(join(tmpdir(), 'kube-ipvs-prometheus-'));
  writeFileSync(join(dir, 'rules.yaml'), stringify(rules));
  writeFileSync(join(dir, 'prometheus.yml'), stringify({
    global: { scrape_interval: '1s', evaluation_interval: '1s' },
    rule_files: [join(dir, 'rules.yaml')],
    scrape_configs: [{ job_name: job, static_configs: [{ targets }] }],
  }));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc: ChildProcess = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let logs = '';
  proc.stderr?.on('data', (c: Buffer) => { logs += c.toString(); });
  const exited = new Promise<void>((r) => proc.on('exit', () => { r(); }));
  const stop = async (): Promise<void> => {
    proc.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
    proc.kill('SIGKILL');
  };
  // Ready in a second or two on a quiet machine; the bound is for a loaded one.
  const deadline = Date.now() + 90_000;
  for (;;) {
    const ready = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(5_000) }).then((r) => r.ok, () => false);
    if (ready) break;
    if (proc.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus did not become ready:\n${logs}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    query: async (expr) => (await api<{ result: Sample[] }>(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`)).result,
    rules: async () => (await api<{ groups: { rules: { name: string; health: string; lastError?: string }[] }[] }>(`${url}/api/v1/rules`)).groups.flatMap((g) => g.rules),
    stop,
  };
}
