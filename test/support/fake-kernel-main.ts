// The real `kube-ipvs` entry point (run(): flags, config, daemon, health and metrics servers,
// signals, exit code) in its own process, with the node's kernel replaced by the fake one so
// the test host is never changed. KUBE_IPVS_FAKE_NO_IP_VS=1 boots a kernel without ip_vs:
// its /proc/sys/net/ipv4/vs entries do not exist, as on a node where the module is not loaded.
// KUBE_IPVS_PROBER: TCP health checks by that kube-ipvs-prober (real probes of real local
// listeners; the fake kernel has no part in them); unset, they run in-process.
import { text } from 'node:stream/consumers';
import { run } from '../../src/cli/run.ts';
import { FakeKernel } from '../fakes/fake-kernel.ts';

const kernel = new FakeKernel();
if (process.env.KUBE_IPVS_FAKE_NO_IP_VS === '1') {
  for (const name of [...kernel.proc.keys()]) if (name.startsWith('net/ipv4/vs/')) kernel.proc.delete(name);
}
process.exitCode = await run(process.argv.slice(2), {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  readStdin: () => text(process.stdin),
}, { runner: kernel, sysctl: kernel.sysctl, ...(process.env.KUBE_IPVS_PROBER === undefined ? {} : { prober: process.env.KUBE_IPVS_PROBER }) });
