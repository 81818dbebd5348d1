import { test } from 'node:test';
import assert from 'node:assert/strict';
import { countingRunner, execaRunner, failingLine, moduleHint, packageFor, stdoutBytes, ToolError } from '../../src/apply/exec.ts';
import { probe } from './fixtures.ts';

const node = process.execPath;

async function toolError(p: Promise<unknown>): Promise<ToolError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ToolError, `expected a ToolError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected the command to fail');
}

test('execaRunner passes argv without a shell and stdin as input', async () => {
  const r = await execaRunner.run([node, '-e', 'process.stdin.pipe(process.stdout); console.error(process.argv[1])', '$(echo no) ;|'], { input: 'a\nb\n' });
  assert.equal(r.stdout, 'a\nb\n');
  assert.equal(r.stderr, '$(echo no) ;|\n');
});

test('with bytes asked, stdout comes back as the bytes the tool wrote, undecoded; stderr as text', async () => {
  // 0xff is no UTF-8: a decode would have made it U+FFFD (3 bytes).
  const r = await execaRunner.run([node, '-e', 'process.stdout.write(Buffer.from([0x2d, 0x41, 0xff, 0x0a])); console.error("é")'], { bytes: true });
  assert.deepEqual([...(r.bytes ?? [])], [0x2d, 0x41, 0xff, 0x0a]);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, 'é\n');
  assert.deepEqual([...stdoutBytes(r)], [0x2d, 0x41, 0xff, 0x0a]);
  // A failure's output is text, for its message.
  const e = await toolError(execaRunner.run([node, '-e', 'console.log("out"); console.error("boom"); process.exit(2)'], { bytes: true }));
  assert.equal(e.stdout, 'out\n');
  assert.equal(e.stderr, 'boom\n');
  // A runner that returns text (a fake) is read the same way.
  assert.equal(stdoutBytes({ stdout: 'a€', stderr: '' }).toString('utf8'), 'a€');
});

test('a non-zero exit is TOOL_FAILED with the exit code and stderr', async () => {
  const e = await toolError(execaRunner.run([node, '-e', 'console.error("boom"); process.exit(3)']));
  assert.equal(e.code, 'TOOL_FAILED');
  assert.equal(e.exitCode, 3);
  assert.equal(e.stderr, 'boom\n');
  assert.equal(e.line, undefined);
  assert.match(e.message, /exit 3: boom/);
});

test('a batch failure names the failing input line with three lines of context', async () => {
  const input = Array.from({ length: 10 }, (_, i) => `line ${i + 1}`).join('\n') + '\n';
  const e = await toolError(execaRunner.run(
    [node, '-e', 'process.stdin.resume(); process.stdin.on("end", () => { console.error("ipset v7.17: Error in line 5: nope"); process.exit(1); })'],
    { input },
  ));
  assert.equal(e.line?.number, 5);
  assert.equal(e.line.text, 'line 5');
  assert.equal(e.line.context, [' 2: line 2', ' 3: line 3', ' 4: line 4', '>5: line 5', ' 6: line 6', ' 7: line 7', ' 8: line 8'].join('\n'));
  assert.match(e.message, /input line 5: line 5/);
});

test('a missing binary is TOOL_MISSING and names the Debian package', async () => {
  const e = await toolError(execaRunner.run(['/nonexistent/kube-ipvs-test/ipvsadm', '-Sn']));
  assert.equal(e.code, 'TOOL_MISSING');
  assert.match(e.message, /install the Debian package ipvsadm/);
  assert.deepEqual(['ipset', 'iptables-nft-restore', 'ip6tables-save', 'ip', 'conntrack'].map(packageFor), ['ipset', 'iptables', 'iptables', 'iproute2', 'conntrack']);
});

test('a command running past its timeout is TOOL_TIMEOUT', async () => {
  const e = await toolError(execaRunner.run([node, '-e', 'setTimeout(() => {}, 20000)'], { timeoutMs: 300 }));
  assert.equal(e.code, 'TOOL_TIMEOUT');
});

test('failingLine reads the line numbers the real tools print', () => {
  for (const [name, line] of [
    ['fail-ipset-restore.txt', 3], ['fail-ip-batch.txt', 2],
    ['fail-iptables-restore-nft.txt', 5], ['fail-iptables-restore-legacy.txt', 4],
  ] as const) {
    const p = probe(name);
    assert.equal(failingLine(p.stderr, p.stdin)?.number, line, name);
  }
  assert.equal(failingLine('iptables-restore: line 2 failed\n', 'a\nb\n')?.text, 'b');
  // ipvsadm -R names no line: nothing to point at.
  const p = probe('fail-ipvsadm-R-nosuch-last.txt');
  assert.equal(failingLine(p.stderr, p.stdin), undefined);
});

test('countingRunner counts spawns per tool, failed ones too', async () => {
  const c = countingRunner({ run: (argv) => (argv[0] === 'ip' ? Promise.reject(new Error('x')) : Promise.resolve({ stdout: '', stderr: '' })) });
  await c.run(['/usr/sbin/ipvsadm', '-Sn']);
  await c.run(['ipvsadm', '-R'], { input: '' });
  await assert.rejects(c.run(['ip', '-batch', '-']));
  assert.deepEqual([...c.spawns], [['ipvsadm', 2], ['ip', 1]]);
  assert.equal(c.total(), 3);
  c.reset();
  assert.equal(c.total(), 0);
});

test('messages that mean a missing kernel feature name the module to load', () => {
  const cases: [string, string][] = [
    ["Can't initialize ipvs: Protocol not available\nAre you sure that IP Virtual Server is built in the kernel or as module?", 'modprobe ip_vs)'],
    ['Memory allocation problem\nScheduler or persistence engine not found', '(e.g. ip_vs_rr))'],
    ["ipset v7.17: Kernel error received: ipset protocol error", 'modprobe ip_set)'],
    ['RTNETLINK answers: Operation not supported\nError: Unknown device type.', 'modprobe dummy)'],
    ["iptables v1.8.9 (legacy): can't initialize iptables table `nat': Table does not exist", 'modprobe iptable_nat)'],
    ["iptables-restore v1.8.9 (nf_tables): Couldn't load match `set':No such file or directory", 'modprobe xt_set)'],
  ];
  for (const [stderr, want] of cases) assert.ok(moduleHint(stderr)?.endsWith(want), `${stderr} → ${String(moduleHint(stderr))}`);
  assert.equal(moduleHint('Service already exists'), undefined);
  const e = new ToolError({ code: 'TOOL_FAILED', argv: ['ipvsadm', '-Sn'], exitCode: 2, stderr: cases[0]![0] });
  assert.match(e.message, /^ipvsadm -Sn: exit 2: Can't initialize ipvs: Protocol not available; the kernel lacks a feature: load the module \(modprobe ip_vs\)$/);
});
