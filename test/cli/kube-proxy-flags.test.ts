// Every flag of kube-proxy v1.35 (test/fixtures/kube-proxy/flags-v1.35.json, taken from its
// source) through the real command line: each is implemented — its effect shows in the
// configuration --write-config-to writes — or accepted with exactly one warning saying why it
// has no effect. Both pflag spellings (`--flag=value`, `--flag value`) and bare bools.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { run } from '../../src/cli/run.ts';

interface FlagRow {
  readonly flag: string;
  readonly type: string;
  readonly value?: string;
  readonly effect?: { readonly path: string; readonly value: unknown };
  /** What kube-ipvs does with it: "implemented", or the exact warning it prints. */
  readonly kubeIpvs: string;
}

const fixture = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'kube-proxy', 'flags-v1.35.json'), 'utf8')) as { flags: FlagRow[] };
const dir = mkdtempSync(join(tmpdir(), 'kube-ipvs-flags-'));
const configFile = join(dir, 'config.yaml');
writeFileSync(configFile, 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nhostnameOverride: from-file\n');

async function cli(argv: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await run(argv, { stdout: (s) => { stdout += s; }, stderr: (s) => { stderr += s; }, readStdin: () => Promise.resolve('') });
  return { code, stdout, stderr };
}

const at = (obj: unknown, path: string): unknown =>
  path.split('.').reduce<unknown>((o, k) => (typeof o === 'object' && o !== null ? (o as Record<string, unknown>)[k] : undefined), obj);

const sample = (r: FlagRow, out: string): string | undefined => r.value?.replace('<config>', configFile).replace('<out>', out);

test('the fixture lists all 56 flags of kube-proxy --help v1.35, plus --help and the two deprecated port flags', () => {
  assert.equal(fixture.flags.length, 59);
  assert.equal(new Set(fixture.flags.map((f) => f.flag)).size, 59);
});

for (const r of fixture.flags) {
  test(`${r.flag} (${r.type}): ${r.kubeIpvs === 'implemented' ? 'implemented' : 'accepted, one warning'}`, async () => {
    const forms: string[][] = [];
    const out = join(dir, `${r.flag.slice(2)}.yaml`);
    const v = sample(r, out);
    if (r.flag === '--help') forms.push(['--help'], ['-h']);
    else if (v === undefined) forms.push([r.flag], [`${r.flag}=true`]);
    else forms.push([`${r.flag}=${v}`], [r.flag, v]);
    for (const form of forms) {
      if (r.flag === '--help' || r.flag === '--version') {
        const res = await cli(form);
        assert.equal(res.code, 0, res.stderr);
        assert.match(res.stdout, r.flag === '--help' ? /--detect-local-mode/ : /^kube-ipvs v\d+\.\d+\.\d+ \(kube-proxy v1\.35 compatible\)\n$/);
        continue;
      }
      // --write-config-to makes the daemon resolve everything, write the result and exit before
      // touching the node or needing an API server (--cleanup and --init-only included).
      const extra = r.flag === '--write-config-to' ? [] : ['--write-config-to', out];
      const res = await cli([...form, ...extra]);
      assert.equal(res.code, 0, `${form.join(' ')}: ${res.stderr}`);
      const warnings = res.stderr.split('\n').filter((l) => l !== '');
      if (r.flag === '--config') {
        assert.deepEqual(warnings, [], 'a config file with nothing unknown in it warns about nothing');
        assert.equal(at(parse(readFileSync(out, 'utf8')), 'hostnameOverride'), 'from-file');
      } else {
        assert.deepEqual(warnings, r.kubeIpvs === 'implemented' ? [] : [r.kubeIpvs], form.join(' '));
      }
      if (r.effect !== undefined) assert.deepEqual(at(parse(readFileSync(out, 'utf8')), r.effect.path), r.effect.value, `${form.join(' ')} → ${r.effect.path}`);
    }
  });
}

test('pflag spellings: -v=2, -v 2, --v=2, underscores for dashes', async () => {
  for (const form of [['-v=2'], ['-v', '2'], ['--v=2'], ['-v2']]) {
    const out = join(dir, 'v.yaml');
    const res = await cli([...form, '--write-config-to', out]);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(at(parse(readFileSync(out, 'utf8')), 'logging.verbosity'), 2, form.join(' '));
  }
  const out = join(dir, 'u.yaml');
  assert.equal((await cli(['--hostname_override=node-u', '--write-config-to', out])).code, 0);
  assert.equal(at(parse(readFileSync(out, 'utf8')), 'hostnameOverride'), 'node-u');
});

test('repeated and comma-separated list flags add up, as pflag string slices', async () => {
  const out = join(dir, 'lists.yaml');
  assert.equal((await cli(['--ipvs-exclude-cidrs=10.3.0.0/16', '--ipvs-exclude-cidrs', '10.4.0.0/16,10.5.0.0/16', '--write-config-to', out])).code, 0);
  assert.deepEqual(at(parse(readFileSync(out, 'utf8')), 'ipvs.excludeCIDRs'), ['10.3.0.0/16', '10.4.0.0/16', '10.5.0.0/16']);
});

test('only values that cannot be honoured fail: --proxy-mode=nftables, a bad --feature-gates or --kube-api-qps', async () => {
  for (const [argv, want] of [
    [['--proxy-mode=nftables'], /--proxy-mode: "nftables" is not supported/],
    [['--feature-gates=Foo'], /--feature-gates: "Foo" is not a list of key=true\|false pairs/],
    [['--kube-api-qps=fast'], /--kube-api-qps: "fast" is not a number/],
    [['--detect-local-mode=BridgeInterface'], /--pod-bridge-interface: must be set when --detect-local-mode is BridgeInterface/],
    [['--logging-format=xml'], /--logging-format/],
  ] as const) {
    const res = await cli([...argv, '--write-config-to', join(dir, 'bad.yaml')]);
    assert.equal(res.code, 2, argv.join(' '));
    assert.match(res.stderr, want);
  }
});
