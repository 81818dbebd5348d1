#!/usr/bin/env node
// Entry point: the only place that sets the process exit code.
import { text } from 'node:stream/consumers';
import { run } from './run.ts';

const argv = process.argv.slice(2);
const code = await run(argv, {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  readStdin: () => text(process.stdin),
});
process.exitCode = code;

// The daemon has stopped everything it started; the process should now end by itself. If a
// library still holds the event loop (a watch reconnecting, a timer), a SIGTERMed pod would
// hang until the kubelet kills it: say what is left and exit anyway. Not for `plan`, whose
// output may still be draining into a slow reader.
if (argv[0] !== 'plan') {
  setTimeout(() => {
    process.stderr.write(`kube-ipvs: still running 5 s after stopping (${process.getActiveResourcesInfo().join(', ')}); exiting\n`);
    process.exit(code);
  }, 5000).unref();
}
