#!/usr/bin/env node
// Entry point: the only place that sets the process exit code.
import { text } from 'node:stream/consumers';
import { run } from './run.ts';

process.exitCode = await run(process.argv.slice(2), {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  readStdin: () => text(process.stdin),
});
