// The command line as a function (argv, io) → exit code, so tests run it in-process.
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../compute/config.ts';
import { ManifestSyntaxError } from '../compute/k8s/manifests.ts';
import { FlagError, normalizeArgv, addDaemonFlags, type DaemonFlagValues } from '../config/flags.ts';
import { planCommand, type PlanIo } from './plan.ts';
import { runDaemon, type Host } from './run-daemon.ts';

export const EXIT_USAGE = 2;

function isNodeError(e: unknown): e is NodeJS.ErrnoException {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' && 'syscall' in e;
}

function validOptions(cmd: Command): string {
  return cmd.options.map((o) => o.long ?? o.short ?? '').filter((s) => s !== '').join(', ');
}

/** `host` replaces the node's kernel (tools and /proc/sys): tests run the real CLI on the fake kernel. */
export async function run(argvIn: readonly string[], io: PlanIo, host?: Host): Promise<number> {
  const argv = normalizeArgv(argvIn);
  let code = 0;
  const program = addDaemonFlags(new Command('kube-ipvs')
    .description('A Kubernetes service proxy that programs IPVS: a drop-in replacement for kube-proxy in IPVS mode.\n' +
      'Without a command it runs the proxy (kube-proxy\'s flags); `kube-ipvs plan` renders a cluster offline.')
    .showSuggestionAfterError(true)
    // `plan` has flags of the same names: after the command name they are the command's.
    .enablePositionalOptions());
  const plan = planCommand(io, (c) => { code = c; });
  program.addCommand(plan);
  const all = [program, plan];
  for (const c of all) {
    c.exitOverride().configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  }
  program.action(async (o: DaemonFlagValues) => { code = await runDaemon(o, io, host); });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      if (e.code === 'commander.unknownOption') {
        const cmd = argv[0] === 'plan' ? plan : program;
        io.stderr(`valid options for ${cmd === plan ? 'kube-ipvs plan' : 'kube-ipvs'}: ${validOptions(cmd)}\n`);
      }
      return EXIT_USAGE;
    }
    if (e instanceof ManifestSyntaxError || e instanceof ConfigError || e instanceof FlagError) {
      io.stderr(`kube-ipvs: ${e.message}\n`);
      return EXIT_USAGE;
    }
    // A system error the daemon cannot work around (a port in use, a file it must write).
    if (isNodeError(e)) {
      io.stderr(`kube-ipvs: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
