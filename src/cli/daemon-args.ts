// The daemon's command line parsed exactly as `kube-ipvs` parses it, without running anything:
// for checking a DaemonSet's arguments (test/deploy) before they reach a node.
import { Command } from 'commander';
import { addDaemonFlags, type DaemonFlagValues } from './daemon-flags.ts';
import { normalizeArgv } from './run.ts';

/**
 * Parses kube-proxy-style daemon flags (`--flag=value` or `--flag value`) into the values the
 * daemon receives. Throws commander's error for an unknown flag or a stray argument, and
 * FlagError for a bad boolean or integer, as `kube-ipvs` itself would.
 */
export function parseDaemonArgs(argv: readonly string[]): DaemonFlagValues {
  const program = addDaemonFlags(new Command('kube-ipvs'))
    .exitOverride()
    .configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
  program.parse(normalizeArgv(argv), { from: 'user' });
  return program.opts<DaemonFlagValues>();
}
