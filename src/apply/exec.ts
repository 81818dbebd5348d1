// The one place that starts processes. Argument arrays only, never a shell, so no value
// from a Service can be read as shell syntax. Everything else talks to the kernel through a
// Runner, so tests can swap in the in-memory fake kernel.
import { execa } from 'execa';
import { basename } from 'node:path';

export interface RunOptions {
  /** Written to the tool's stdin (batch input); stdin is closed when absent. */
  readonly input?: string;
  readonly timeoutMs?: number;
  /**
   * stdout handed back as the bytes the tool wrote (`RunResult.bytes`; `stdout` is then ''),
   * never decoded: a periodic resync hashes megabytes of dumps and reads only what changed.
   * A runner that ignores this returns text, which `stdoutBytes` encodes.
   */
  readonly bytes?: boolean;
}

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
  /** With `bytes` asked (and honoured): stdout, raw. */
  readonly bytes?: Uint8Array;
}

/** A run's stdout as bytes, whether the runner honoured `bytes` or returned text. */
export const stdoutBytes = (r: RunResult): Buffer =>
  (r.bytes === undefined ? Buffer.from(r.stdout) : Buffer.from(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength));

export interface Runner {
  run(argv: readonly string[], opts?: RunOptions): Promise<RunResult>;
}

export type ToolErrorCode = 'TOOL_FAILED' | 'TOOL_MISSING' | 'TOOL_TIMEOUT';

/** The batch line a tool reported as failing (1-based), with up to 3 lines either side. */
export interface FailingLine {
  readonly number: number;
  readonly text: string;
  /** `N: text` lines, the failing one marked with `>`. */
  readonly context: string;
}

export interface ToolErrorInit {
  readonly code: ToolErrorCode;
  readonly argv: readonly string[];
  readonly exitCode?: number;
  readonly stdout?: string;
  readonly stderr?: string;
  readonly input?: string;
  readonly cause?: unknown;
}

const PACKAGES: Readonly<Record<string, string>> = {
  ipvsadm: 'ipvsadm', ipset: 'ipset', ip: 'iproute2', conntrack: 'conntrack', nft: 'nftables',
};

/** The Debian package that ships a tool (`iptables-nft-restore` → `iptables`). */
export function packageFor(tool: string): string {
  if (/^ip6?tables/.test(tool)) return 'iptables';
  return PACKAGES[tool] ?? tool;
}

export const toolName = (argv: readonly string[]): string => basename(argv[0] ?? '');

// How each batch tool names the input line it failed on.
const LINE_PATTERNS: readonly RegExp[] = [
  /Error in line (\d+)/, // ipset restore
  /Command failed -:(\d+)/, // ip -batch -
  /line (\d+) failed/, // iptables-restore (legacy)
  /Error occurred at line: (\d+)/, // iptables-restore (nft)
  /^\/dev\/stdin:(\d+):/m, // nft -f -
];

export function failingLine(stderr: string, input: string | undefined): FailingLine | undefined {
  if (input === undefined) return undefined;
  const n = LINE_PATTERNS.map((re) => re.exec(stderr)?.[1]).find((m) => m !== undefined);
  if (n === undefined) return undefined;
  const number = Number(n);
  const lines = input.split('\n');
  const text = lines[number - 1];
  if (text === undefined) return undefined;
  const from = Math.max(1, number - 3);
  const to = Math.min(lines.length, number + 3);
  const context = lines.slice(from - 1, to)
    .map((l, i) => `${from + i === number ? '>' : ' '}${from + i}: ${l}`).join('\n');
  return { number, text, context };
}

// Messages that mean a kernel feature is missing, and the module that provides it.
const MODULE_HINTS: readonly (readonly [RegExp, (m: RegExpExecArray) => string])[] = [
  [/Protocol not available|Can't initialize ipvs/, () => 'ip_vs'],
  [/Scheduler or persistence engine not found/, () => 'ip_vs_<scheduler> (e.g. ip_vs_rr)'],
  [/Cannot open session to kernel|Kernel error received: (?:Protocol not supported|ipset protocol error)/, () => 'ip_set'],
  [/Kernel error received: .*set type not supported|Unknown set type/, () => 'ip_set_hash_ipport (and the other ip_set_* types)'],
  [/Unknown device type/, () => 'dummy'],
  [/can't initialize ip6?tables table `(\w+)'/, (m) => `iptable_${m[1] ?? 'nat'}`],
  [/Couldn't load match `(\w+)'/, (m) => `xt_${m[1] ?? ''}`],
  [/Couldn't load target `(\w+)'/, (m) => `xt_${m[1] ?? ''}`],
];

/** "load the kernel module X" when a tool's message says a kernel feature is missing. */
export function moduleHint(stderr: string): string | undefined {
  for (const [re, mod] of MODULE_HINTS) {
    const m = re.exec(stderr);
    if (m !== null) return `the kernel lacks a feature: load the module (modprobe ${mod(m)})`;
  }
  return undefined;
}

function describe(init: ToolErrorInit, line: FailingLine | undefined): string {
  const cmd = init.argv.join(' ');
  switch (init.code) {
    case 'TOOL_MISSING':
      return `${toolName(init.argv)} not found: install the Debian package ${packageFor(toolName(init.argv))}`;
    case 'TOOL_TIMEOUT':
      return `${cmd}: timed out`;
    case 'TOOL_FAILED': {
      const err = (init.stderr ?? '').trim().split('\n')[0] ?? '';
      const at = line === undefined ? '' : ` (input line ${line.number}: ${line.text})`;
      const hint = moduleHint(init.stderr ?? '');
      return `${cmd}: exit ${init.exitCode ?? '?'}: ${err}${at}${hint === undefined ? '' : `; ${hint}`}`;
    }
  }
}

export class ToolError extends Error {
  override readonly name = 'ToolError';
  readonly code: ToolErrorCode;
  readonly argv: readonly string[];
  readonly exitCode: number | undefined;
  readonly stdout: string;
  readonly stderr: string;
  readonly line: FailingLine | undefined;

  constructor(init: ToolErrorInit) {
    const line = init.code === 'TOOL_FAILED' ? failingLine(init.stderr ?? '', init.input) : undefined;
    super(describe(init, line), init.cause === undefined ? undefined : { cause: init.cause });
    this.code = init.code;
    this.argv = init.argv;
    this.exitCode = init.exitCode;
    this.stdout = init.stdout ?? '';
    this.stderr = init.stderr ?? '';
    this.line = line;
  }
}

export const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * A batch's time limit grows with its size: under emulation `ipvsadm -R` took 19 s for
 * 30,000 lines (DESIGN.md §3), and killing a batch half-way leaves it half-applied.
 */
export function batchTimeoutMs(input: string): number {
  let lines = 1;
  for (let i = input.indexOf('\n'); i >= 0; i = input.indexOf('\n', i + 1)) lines++;
  return DEFAULT_TIMEOUT_MS + 2 * lines;
}
// An ipvsadm -Sn of 10,000 services is ~1 MB; leave plenty of room before refusing output.
const MAX_BUFFER = 256 * 1024 * 1024;

const text = (x: string | Uint8Array): string => (typeof x === 'string' ? x : Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('utf8'));

export const execaRunner: Runner = {
  async run(argv, opts = {}) {
    const [file, ...args] = argv;
    if (file === undefined) throw new TypeError('empty argv');
    const r = await execa(file, args, {
      reject: false,
      // stdout only: stderr is always read as text (errors, hints).
      ...(opts.bytes === true ? { encoding: 'buffer' as const } : {}),
      timeout: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      maxBuffer: MAX_BUFFER,
      stripFinalNewline: false,
      // Tool messages in English whatever the node's locale, so they read the same in logs.
      env: { LC_ALL: 'C' },
      ...(opts.input === undefined ? { stdin: 'ignore' as const } : { input: opts.input }),
    });
    const stderr = text(r.stderr);
    if (r.code === 'ENOENT' || r.timedOut || r.failed) {
      // A failed run's output is for its error message: text.
      const base = { argv, stdout: text(r.stdout), stderr, ...(opts.input === undefined ? {} : { input: opts.input }) };
      if (r.code === 'ENOENT') throw new ToolError({ ...base, code: 'TOOL_MISSING', cause: r.cause });
      if (r.timedOut) throw new ToolError({ ...base, code: 'TOOL_TIMEOUT', cause: r.cause });
      throw new ToolError({ ...base, code: 'TOOL_FAILED', ...(r.exitCode === undefined ? {} : { exitCode: r.exitCode }), cause: r.cause });
    }
    return typeof r.stdout === 'string' ? { stdout: r.stdout, stderr } : { stdout: '', stderr, bytes: r.stdout };
  },
};

export interface CountingRunner extends Runner {
  /** Processes spawned per tool (`ipvsadm`, `ipset`…), failed ones included. */
  readonly spawns: ReadonlyMap<string, number>;
  total(): number;
  reset(): void;
}

export function countingRunner(inner: Runner): CountingRunner {
  const spawns = new Map<string, number>();
  return {
    spawns,
    total: () => [...spawns.values()].reduce((a, b) => a + b, 0),
    reset: () => { spawns.clear(); },
    run(argv, opts) {
      const tool = toolName(argv);
      spawns.set(tool, (spawns.get(tool) ?? 0) + 1);
      return inner.run(argv, opts);
    },
  };
}

/** A long-lived helper process (one for the daemon's life, not one per request). */
export interface Helper {
  readonly pid: number | undefined;
  /** Requests; writes after it ended are dropped. */
  write(text: string): void;
  /** Resolves once it ended, however: exit code or signal, or why it never started. */
  readonly ended: Promise<HelperExit>;
  kill(): void;
}

export interface HelperExit {
  readonly exitCode?: number;
  readonly signal?: string;
  /** Its stderr (the reason for a failed start). */
  readonly stderr: string;
  /** Set when the process could not run at all (TOOL_MISSING: no such file). */
  readonly error?: ToolError;
}

/** Starts `argv` with pipes; `onOutput` gets its stdout as it comes, in chunks of text. */
export function startHelper(argv: readonly string[], onOutput: (chunk: string) => void): Helper {
  const [file, ...args] = argv;
  if (file === undefined) throw new TypeError('empty argv');
  const p = execa(file, args, {
    reject: false, buffer: { stdout: false }, maxBuffer: { stderr: 64 * 1024 }, stdin: 'pipe', encoding: 'utf8',
    env: { LC_ALL: 'C' }, cleanup: true,
  });
  p.stdout.setEncoding('utf8');
  p.stdout.on('data', (c: string) => { onOutput(c); });
  // A helper that died leaves a broken pipe; its end is reported through `ended`.
  p.stdin.on('error', () => undefined);
  let open = true;
  const ended = p.then((r): HelperExit => {
    open = false;
    const base = { stderr: typeof r.stderr === 'string' ? r.stderr : '' };
    if (r.code === 'ENOENT' || r.code === 'EACCES') return { ...base, error: new ToolError({ argv, code: 'TOOL_MISSING', stderr: base.stderr, cause: r.cause }) };
    return { ...base, ...(r.exitCode === undefined ? {} : { exitCode: r.exitCode }), ...(r.signal === undefined ? {} : { signal: r.signal }) };
  });
  return {
    pid: p.pid,
    write: (text) => { if (open && p.stdin.writable) p.stdin.write(text); },
    ended,
    kill: () => { p.kill('SIGKILL'); },
  };
}
