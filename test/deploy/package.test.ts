// The npm package as a user gets it: `npm pack` of a clean checkout (no dist/) builds first
// (the prepack script), the tarball holds the build, LICENSE, README and CHANGELOG and no
// sources or tests, and installed into an empty folder (offline, from the npm cache) its
// `kube-ipvs` command runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ROOT } from './deploy-files.ts';

// What a clean clone has that the package is built from (no dist/).
const SOURCES = ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'src', 'README.md', 'LICENSE', 'CHANGELOG.md', 'SECURITY.md'];
const env = { ...process.env, PATH: `${dirname(process.execPath)}:${join(ROOT, 'node_modules', '.bin')}:/usr/bin:/bin`, npm_config_loglevel: 'error' };
const npm = (args: readonly string[], cwd: string) => spawnSync('npm', args, { cwd, env, encoding: 'utf8', timeout: 240_000 });

test('LICENSE is the Apache-2.0 text package.json names', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { license: string };
  assert.equal(pkg.license, 'Apache-2.0');
  const text = readFileSync(join(ROOT, 'LICENSE'), 'utf8');
  assert.match(text, /^\s+Apache License\n\s+Version 2\.0, January 2004\n/);
  assert.match(text, /END OF TERMS AND CONDITIONS/);
  for (const f of ['CHANGELOG.md', 'SECURITY.md']) assert.ok(existsSync(join(ROOT, f)), f);
});

test('npm pack of a clean checkout builds first; the tarball installs offline and `kube-ipvs --help` runs', { timeout: 300_000 }, () => {
  const tmp = mkdtempSync(join(tmpdir(), 'kube-ipvs-pack-'));
  const checkout = join(tmp, 'checkout');
  mkdirSync(checkout);
  for (const f of SOURCES) cpSync(join(ROOT, f), join(checkout, f), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(checkout, 'node_modules'));
  assert.ok(!existsSync(join(checkout, 'dist')));

  const pack = npm(['pack', '--json', '--pack-destination', tmp], checkout);
  assert.equal(pack.status, 0, `npm pack:\n${pack.stderr}`);
  const [info] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[];
  assert.ok(info !== undefined);
  const files = info.files.map((f) => f.path);
  for (const f of ['package.json', 'LICENSE', 'README.md', 'CHANGELOG.md', 'SECURITY.md', 'dist/cli/main.js', 'dist/daemon.js']) assert.ok(files.includes(f), `the tarball has ${f}`);
  assert.deepEqual(files.filter((f) => /^(src|test|deploy|bench)\//.test(f) || f.endsWith('.ts')), [], 'no sources, tests or manifests');

  // An app depending on the tarball, its dependencies locked as kube-ipvs' own lockfile locks
  // them (production ones only), so `npm ci --offline` installs from the npm cache alone.
  const app = join(tmp, 'app');
  mkdirSync(app);
  const tarball = `file:../${info.filename}`;
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  const runtime = Object.fromEntries(Object.entries(lock.packages).filter(([p, v]) => p !== '' && v.dev !== true));
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, dependencies: { 'kube-ipvs': tarball } }));
  writeFileSync(join(app, 'package-lock.json'), JSON.stringify({
    name: 'app', lockfileVersion: 3, requires: true,
    packages: {
      '': { name: 'app', dependencies: { 'kube-ipvs': tarball } },
      'node_modules/kube-ipvs': { version: pkg.version, resolved: tarball, license: pkg.license, dependencies: pkg.dependencies, bin: pkg.bin, engines: pkg.engines },
      ...runtime,
    },
  }));
  const install = npm(['ci', '--offline', '--no-audit', '--no-fund'], app);
  assert.equal(install.status, 0, `npm ci --offline (dependencies come from the npm cache):\n${install.stderr}`);
  const help = spawnSync(join(app, 'node_modules', '.bin', 'kube-ipvs'), ['--help'], { env, encoding: 'utf8', timeout: 60_000 });
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /^Usage: kube-ipvs \[options\] \[command\]/);
  assert.match(help.stdout, /--dry-run/);
  assert.ok(!existsSync(join(app, 'node_modules', 'typescript')), 'dev dependencies are not installed');
});
