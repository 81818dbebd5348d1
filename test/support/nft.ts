// The real `nft` (Debian's nftables, test/support/setup-nft.sh) in a fresh network namespace:
// `unshare -n` gives each call an empty ruleset on the real kernel, so a test checks and
// applies scripts without touching the host's tables. Needs root (CAP_SYS_ADMIN).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const INSTALL = 'run test/support/setup-nft.sh (it installs Debian\'s `nftables` package)';

export interface NftStep {
  /** `check`: `nft -c -f` (the kernel validates, nothing is committed); `apply`: `nft -f`. */
  readonly mode: 'check' | 'apply';
  readonly script: string;
}

export interface NftRun { readonly status: number | null; readonly stdout: string; readonly stderr: string }

const dir = mkdtempSync(join(tmpdir(), 'kube-ipvs-nft-'));
let n = 0;

/**
 * Runs `steps` in order in one new network namespace, stopping at the first failure unless
 * `keepGoing`, then prints `nft -j list table inet <table>` (stdout) unless `list` is false.
 */
export function nftInNetns(steps: readonly NftStep[], o: { table?: string; keepGoing?: boolean; list?: boolean } = {}): NftRun {
  if (!['/usr/sbin/nft', '/sbin/nft', '/usr/bin/nft'].some((p) => existsSync(p))) throw new Error(`nft not found: ${INSTALL}`);
  const args: string[] = [];
  for (const s of steps) {
    const file = join(dir, `${String(n++)}.nft`);
    writeFileSync(file, s.script);
    args.push(s.mode, file);
  }
  // A fixed shell program; the scripts are files passed as arguments, never interpolated.
  const program = `
    while [ $# -gt 0 ]; do
      if [ "$1" = check ]; then nft -c -f "$2" >&2; else nft -f "$2" >&2; fi || { rc=$?; [ -n "$KEEP" ] || exit $rc; }
      shift 2
    done
    [ -z "$LIST" ] || nft -j list table inet "$TABLE"`;
  const r = spawnSync('unshare', ['-n', '--', 'sh', '-c', program, 'sh', ...args], {
    encoding: 'utf8', timeout: 60_000,
    env: { PATH: `/usr/sbin:/sbin:${process.env.PATH ?? ''}`, TABLE: o.table ?? 'kube-ipvs', KEEP: o.keepGoing === true ? '1' : '', LIST: o.list === false ? '' : '1', LC_ALL: 'C' },
  });
  if (r.error !== undefined) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
