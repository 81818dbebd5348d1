// One fake kernel tool (ipvsadm, ipset, iptables-save, ip, …) for a kube-ipvs process started by a
// test: installed under each tool's name in a folder put first in PATH, it sends its argv and
// stdin to the test's FakeKernel (test/deploy/fake-tools.ts) over a Unix socket and prints what
// the fake printed, exiting with its exit code.
import { connect } from 'node:net';
import { basename } from 'node:path';

const socket = process.env.KUBE_IPVS_FAKE_KERNEL;
if (socket === undefined) {
  process.stderr.write('fake tool: KUBE_IPVS_FAKE_KERNEL is not set\n');
  process.exit(127);
}
const chunks: Buffer[] = [];
for await (const c of process.stdin) chunks.push(c as Buffer);
const input = Buffer.concat(chunks).toString();
const argv = [basename(process.env.KUBE_IPVS_FAKE_TOOL ?? ''), ...process.argv.slice(2)];
const conn = connect(socket);
conn.end(JSON.stringify({ argv, ...(input === '' ? {} : { input }) }));
let reply = '';
for await (const c of conn) reply += (c as Buffer).toString();
const r = JSON.parse(reply) as { stdout: string; stderr: string; code: number };
process.stdout.write(r.stdout);
process.stderr.write(r.stderr);
process.exitCode = r.code;
