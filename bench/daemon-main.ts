// The `kube-ipvs` daemon as src/cli/main.ts starts it (same flags, same code from process start),
// with one difference: its kernel tools are the fake kernel in another process
// (bench/kernel-server.ts) and /proc/sys is in memory, so it runs on a machine without IPVS and
// changes nothing on it. Run compiled (.cache/bench-js), as the container image runs the daemon.
//   node bench/daemon-main.js --bench-kernel SOCKET [kube-ipvs flags]
import type { SysctlFs } from '../src/apply/sysctl.ts';
import { run } from '../src/cli/run.ts';
import { SocketRunner } from './socket-runner.ts';

const args = process.argv.slice(2);
const at = args.indexOf('--bench-kernel');
const socket = args.splice(at, 2)[1] ?? '';
const proc = new Map<string, string>([['kernel/osrelease', '6.1.0-26-amd64']]);
const sysctl: SysctlFs = {
  read: (name) => Promise.resolve(proc.get(name) ?? '0'),
  write: (name, value) => { proc.set(name, value); return Promise.resolve(); },
};
const runner = await SocketRunner.connect(socket);
process.exitCode = await run(args, {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  readStdin: () => Promise.resolve(''),
}, { runner, sysctl });
runner.close();
