// The image, checked without a Docker engine: the Dockerfile's stages and base, the Debian
// packages it installs (they exist in bookworm, asked of apt here), the .dockerignore, the build
// output its entrypoint runs (built and installed with production dependencies only, as the
// image does, then `kube-ipvs --help` through the entrypoint), and the entrypoint's choice of
// iptables backend, driven by fake iptables-*-save commands.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { accessSync, constants, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ROOT } from './deploy-files.ts';
import { baseOf, inContext, ops, readDockerfile, stage } from './dockerfile.ts';

// The base image is pinned to the Node version the tests run on (the `node` devDependency).
const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string; dev?: boolean }> };
const BASE = `node:${lock.packages['node_modules/node']?.version ?? '(no node devDependency)'}-bookworm-slim`;
const PACKAGES = ['conntrack', 'iproute2', 'ipset', 'iptables', 'ipvsadm', 'kmod', 'nftables'];
/** The prober stage's: kube-ipvs-prober is compiled with them. */
const BUILD_PACKAGES = ['gcc', 'libc6-dev'];
const GCC = 'gcc -O2 -Wall -Wextra -Werror -std=gnu11 -o kube-ipvs-prober src/native/prober.c src/native/http.c src/native/uring.c';
const APP = '/opt/kube-ipvs';
const ENTRYPOINT = join(ROOT, 'image', 'kube-ipvs.sh');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string; license: string; bin: Record<string, string>;
};
const sh = (cmd: string, args: readonly string[], opts: Parameters<typeof spawnSync>[2] = {}): SpawnSyncReturns<string> =>
  spawnSync(cmd, args, { encoding: 'utf8', ...opts }) as SpawnSyncReturns<string>;

test('the Dockerfile: bookworm Node 24 stages, production dependencies only, kube-ipvs as the entrypoint', () => {
  const d = readDockerfile();
  assert.match(BASE, /^node:24\.\d+\.\d+-bookworm-slim$/, 'pinned to a full Node version, not a moving tag');
  assert.equal(d.args.get('NODE_IMAGE'), BASE);
  assert.deepEqual(d.stages.map((s) => [s.name, baseOf(d, s)]), [['build', BASE], ['prober', BASE], ['deps', BASE], [undefined, BASE]]);
  // kube-ipvs-prober: built as `make native` builds it, put where the compiled code looks (../../bin).
  assert.ok(ops(stage(d, 'prober'), 'RUN').includes(GCC), 'the prober stage compiles with make native\'s flags');
  assert.match(sh('make', ['-n', '-B', 'native'], { cwd: ROOT }).stdout, /^gcc -O2 -Wall -Wextra -Werror -std=gnu11 -o bin\/kube-ipvs-prober src\/native\/prober\.c src\/native\/http\.c src\/native\/uring\.c$/m);
  const build = stage(d, 'build');
  assert.ok(ops(build, 'RUN').includes('node_modules/.bin/tsc -p tsconfig.build.json'), 'dist/ is built by the project\'s build');
  assert.ok(ops(stage(d, 'deps'), 'RUN').some((r) => /^npm ci --omit=dev\b/.test(r)), 'the deps stage installs production dependencies only');
  const final = stage(d, undefined);
  const copies = ops(final, 'COPY');
  assert.ok(ops(final, 'WORKDIR').includes(APP));
  assert.ok(copies.includes('--from=deps /opt/kube-ipvs/node_modules ./node_modules'), 'node_modules from the deps stage, not the build stage');
  assert.ok(copies.includes('--from=build /src/dist ./dist'), 'dist/ from the build stage');
  assert.ok(copies.includes('package.json ./'), 'package.json ("type": "module") beside dist/');
  assert.ok(copies.includes('image/kube-ipvs.sh /usr/local/bin/kube-ipvs'));
  assert.ok(copies.includes('--from=prober /src/kube-ipvs-prober ./bin/kube-ipvs-prober'), 'the prober beside dist/');
  assert.deepEqual(ops(final, 'ENTRYPOINT'), ['["/usr/local/bin/kube-ipvs"]']);
  // What the entrypoint runs by default is where the build's output lands.
  assert.equal(pkg.bin['kube-ipvs'], 'dist/cli/main.js');
  assert.match(readFileSync(ENTRYPOINT, 'utf8'), new RegExp(`^main=\\$\\{KUBE_IPVS_MAIN:-${APP}/${pkg.bin['kube-ipvs']}\\}$`, 'm'));
  const tsconfig = JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')) as { compilerOptions: { outDir: string; rootDir: string } };
  assert.deepEqual([tsconfig.compilerOptions.rootDir, tsconfig.compilerOptions.outDir], ['src', 'dist']);
  accessSync(ENTRYPOINT, constants.X_OK);
  const labels = ops(final, 'LABEL').join(' ');
  for (const l of ['title="kube-ipvs"', `licenses="${pkg.license}"`, 'version="${VERSION}"', 'base.name="docker.io/library/${NODE_IMAGE}"']) assert.ok(labels.includes(`org.opencontainers.image.${l}`), l);
  // The version comes from the build, never a default that goes stale: the build stage refuses
  // a missing VERSION or one that is not package.json's, and `make image` passes package.json's.
  assert.ok(ops(final, 'ARG').includes('VERSION') && ops(stage(d, 'build'), 'ARG').includes('VERSION'), 'ARG VERSION without a default');
  assert.ok(ops(stage(d, 'build'), 'RUN').includes('test -n "${VERSION}" && test "$(node -p \'require("./package.json").version\')" = "${VERSION}"'));
  const make = sh('make', ['-n', 'image'], { cwd: ROOT });
  assert.equal(make.status, 0, make.stderr);
  assert.match(make.stdout, new RegExp(`--build-arg VERSION=${pkg.version.replaceAll('.', '\\.')} `), 'make image passes the package version');
  assert.match(make.stdout, new RegExp(`-t ghcr\\.io/kube-ipvs/kube-ipvs:${pkg.version.replaceAll('.', '\\.')}`), 'the image name the manifests use');
});

test('.dockerignore sends only what the Dockerfile copies', () => {
  const d = readDockerfile();
  const sources = d.stages.flatMap((s) => ops(s, 'COPY')).filter((c) => !c.startsWith('--from=')).flatMap((c) => c.split(' ').slice(0, -1));
  assert.ok(sources.length > 0);
  for (const s of sources) {
    assert.ok(existsSync(join(ROOT, s)), `COPY ${s}: exists`);
    assert.ok(inContext(s.replace(/\/$/, '')), `COPY ${s}: not excluded by .dockerignore`);
  }
  for (const p of ['src/cli/main.ts', 'image/kube-ipvs.sh']) assert.ok(inContext(p), p);
  for (const p of ['node_modules', 'node_modules/yaml/package.json', 'dist/cli/main.js', '.cache/vm', '.git', 'test/deploy/image.test.ts', 'README.md']) assert.ok(!inContext(p), `${p} stays out`);
});

let aptUpdated = false;

/** The packages for which apt knows no bookworm archive entry (dpkg's status alone does not count). */
function notInBookworm(names: readonly string[]): string[] {
  const r = sh('apt-cache', ['policy', ...names], { env: { ...process.env, LC_ALL: 'C' } });
  assert.equal(r.status, 0, `apt-cache policy: ${r.stderr}`);
  const sections = new Map(r.stdout.split(/^(?=\S+:$)/m).map((sec) => [sec.slice(0, sec.indexOf(':')), sec]));
  return names.filter((n) => {
    const sec = sections.get(n) ?? '';
    return !/^\s+\d+ \S+ bookworm(-updates|-security)?\/main \S+ Packages$/m.test(sec) || /Candidate: \(none\)/.test(sec);
  });
}

test(`the Debian packages the image installs exist in bookworm (${BASE}'s release)`, () => {
  const os = readFileSync('/etc/os-release', 'utf8');
  assert.match(os, /^VERSION_CODENAME=bookworm$/m, 'this check asks apt on a Debian bookworm machine, the image\'s release');
  const installed = (name: string | undefined): string[] | undefined => {
    const run = ops(stage(readDockerfile(), name), 'RUN').join(' ');
    return /apt-get install -y --no-install-recommends ([a-z0-9 .+-]+?)(?: &&|$)/.exec(run)?.[1]?.split(' ').sort();
  };
  assert.deepEqual(installed(undefined), PACKAGES);
  assert.deepEqual(installed('prober'), BUILD_PACKAGES);
  const all = [...PACKAGES, ...BUILD_PACKAGES];
  let missing = notInBookworm(all);
  if (missing.length > 0 && !aptUpdated) {
    // A fresh machine may have no package lists yet: fetch them once from Debian's archive.
    assert.equal(process.getuid?.(), 0, `apt has no bookworm entry for ${missing.join(' ')}; run \`apt-get update\` as root first`);
    aptUpdated = true;
    const u = sh('apt-get', ['update', '-q'], { stdio: ['ignore', 'pipe', 'pipe'] });
    assert.equal(u.status, 0, `apt-get update failed: ${u.stderr}`);
    missing = notInBookworm(all);
  }
  assert.deepEqual(missing, [], 'packages not in Debian bookworm');
});

test('the build output runs as the image runs it: production dependencies only, `kube-ipvs --help` via the entrypoint', { timeout: 180_000 }, () => {
  // The image's /opt/kube-ipvs, outside the repository so nothing resolves from its node_modules.
  const app = join(mkdtempSync(join(tmpdir(), 'kube-ipvs-image-')), 'opt', 'kube-ipvs');
  mkdirSync(app, { recursive: true });
  const tsc = sh(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(app, 'dist')]);
  assert.equal(tsc.status, 0, `the build fails:\n${tsc.stdout}${tsc.stderr}`);
  for (const f of ['package.json', 'package-lock.json']) copyFileSync(join(ROOT, f), join(app, f));
  const npm = sh('npm', ['ci', '--omit=dev', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: app });
  assert.equal(npm.status, 0, `npm ci --omit=dev:\n${npm.stderr}`);
  // The lockfile marks what only devDependencies need (`"dev": true`); none of it is installed.
  const devOnly = Object.entries(lock.packages).filter(([p, v]) => v.dev === true && p !== '').map(([p]) => p);
  for (const d of ['typescript', 'eslint', 'node']) assert.ok(devOnly.includes(`node_modules/${d}`), `${d} is dev-only in the lockfile`);
  assert.deepEqual(devOnly.filter((p) => existsSync(join(app, p))), [], 'dev-only packages installed');
  assert.ok(existsSync(join(app, 'node_modules', '@kubernetes', 'client-node')), 'runtime dependencies installed');

  const main = join(app, pkg.bin['kube-ipvs']!);
  assert.match(readFileSync(main, 'utf8'), /^#!\/usr\/bin\/env node\n/, 'the compiled entry keeps its shebang');
  const env = { ...process.env, PATH: `${dirname(process.execPath)}:/usr/bin:/bin`, KUBE_IPVS_MAIN: main };
  const help = sh(ENTRYPOINT, ['--help'], { env });
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /^Usage: kube-ipvs \[options\] \[command\]/);
  assert.match(help.stdout, /--hostname-override <name>/);
  assert.doesNotMatch(help.stderr, /iptables backend/, '--help selects no iptables backend');
  const plan = sh(ENTRYPOINT, ['plan', '-f', join(ROOT, 'examples', 'cluster.yaml'), '--hostname-override', 'node-a', '--node-addresses', '192.168.1.10'], { env });
  assert.equal(plan.status, 0, plan.stderr);
  assert.match(plan.stdout, /^-A -t 10\.96\.0\.10:53 -s rr$/m);

  // kube-ipvs-prober as the prober stage builds it and the image places it (./bin): the
  // compiled code looks for it there, and it starts.
  const gcc = sh('sh', ['-c', `mkdir -p ${app}/bin && cd ${ROOT} && ${GCC.replace('-o kube-ipvs-prober', `-o ${app}/bin/kube-ipvs-prober`)}`]);
  assert.equal(gcc.status, 0, gcc.stderr);
  const where = sh(process.execPath, ['--input-type=module', '-e', `console.log((await import('${join(app, 'dist', 'observe', 'native-prober.js')}')).PROBER_PATH)`], { cwd: app });
  assert.equal(where.stdout.trim(), join(app, 'bin', 'kube-ipvs-prober'), where.stderr);
  const ready = sh(join(app, 'bin', 'kube-ipvs-prober'), [], { input: '' });
  assert.equal(ready.status, 0, ready.stderr);
  assert.match(ready.stdout, /^ready \d+ \d+ tcp,http (io_uring|epoll)\n$/);
});

// --- the entrypoint's iptables backend choice, with fake tools first in PATH ---------------

interface Host {
  /** What each iptables-*-save prints: `iptables-nft-save` (whole), `iptables-nft-save -t mangle`, … */
  readonly saves?: Readonly<Record<string, string>>;
  readonly alternativesFail?: boolean;
  readonly modprobeFails?: boolean;
}

function runEntrypoint(host: Host, args: readonly string[], extraEnv: Record<string, string> = {}): { status: number | null; stderr: string; calls: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'kube-ipvs-entry-'));
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  const calls = join(dir, 'calls');
  writeFileSync(calls, '');
  const fake = (name: string, body: string): void => { writeFileSync(join(bin, name), `#!/bin/sh\necho "${name} $*" >> '${calls}'\n${body}\n`, { mode: 0o755 }); };
  for (const fam of ['iptables', 'ip6tables']) {
    for (const mode of ['legacy', 'nft']) {
      const name = `${fam}-${mode}-save`;
      writeFileSync(join(dir, name), host.saves?.[name] ?? '');
      writeFileSync(join(dir, `${name} -t mangle`), host.saves?.[`${name} -t mangle`] ?? '');
      fake(name, `if [ "$*" = "-t mangle" ]; then cat '${join(dir, `${name} -t mangle`)}'; else cat '${join(dir, name)}'; fi`);
    }
  }
  fake('update-alternatives', host.alternativesFail === true ? 'exit 2' : 'exit 0');
  fake('modprobe', host.modprobeFails === true ? 'exit 1' : 'exit 0');
  fake('node', 'exit 0');
  const r = sh(ENTRYPOINT, args, { env: { PATH: `${bin}:/usr/bin:/bin`, KUBE_IPVS_MAIN: '/app/main.js', ...extraEnv } });
  return { status: r.status, stderr: r.stderr, calls: readFileSync(calls, 'utf8').split('\n').filter((l) => l !== '') };
}

const alternatives = (calls: readonly string[]): string[] => calls.filter((c) => c.startsWith('update-alternatives '));
const chose = (mode: string): string[] => [
  `update-alternatives --set iptables /usr/sbin/iptables-${mode}`, `update-alternatives --set ip6tables /usr/sbin/ip6tables-${mode}`,
];
const HINT = '*mangle\n:KUBE-IPTABLES-HINT - [0:0]\n:KUBE-KUBELET-CANARY - [0:0]\nCOMMIT\n';
const rules = (n: number): string => `*filter\n:INPUT ACCEPT [0:0]\n${'-A INPUT -j ACCEPT\n'.repeat(n)}COMMIT\n`;

test('entrypoint: kubelet\'s hint chains decide the backend, nft first', () => {
  const nft = runEntrypoint({ saves: { 'iptables-nft-save -t mangle': HINT, 'iptables-legacy-save': rules(50) } }, ['--config=/c']);
  assert.equal(nft.status, 0, nft.stderr);
  assert.deepEqual(alternatives(nft.calls), chose('nft'));
  assert.match(nft.stderr, /iptables backend: nft \(detected from the host's rules\)/);

  const legacy = runEntrypoint({ saves: { 'iptables-legacy-save': `${HINT}${rules(1)}`, 'iptables-nft-save': rules(9) } }, ['--config=/c']);
  assert.deepEqual(alternatives(legacy.calls), chose('legacy'));
  const v6 = runEntrypoint({ saves: { 'ip6tables-legacy-save': HINT } }, []);
  assert.deepEqual(alternatives(v6.calls), chose('legacy'), 'an IPv6-only hint counts');
  // iptables-legacy-save -t mangle would create the mangle table on the host: never asked.
  for (const r of [nft, legacy, v6]) assert.ok(!r.calls.some((c) => /legacy-save -t mangle/.test(c)), r.calls.join('\n'));
});

test('entrypoint: without hints, the backend with more rules wins; nft on a tie or an empty host', () => {
  assert.deepEqual(alternatives(runEntrypoint({ saves: { 'iptables-legacy-save': rules(5), 'ip6tables-nft-save': rules(4) } }, []).calls), chose('legacy'));
  assert.deepEqual(alternatives(runEntrypoint({ saves: { 'iptables-legacy-save': rules(3), 'ip6tables-nft-save': rules(3) } }, []).calls), chose('nft'));
  assert.deepEqual(alternatives(runEntrypoint({}, []).calls), chose('nft'));
});

test('entrypoint: then loads the IPVS modules and execs node on the build output with the same arguments', () => {
  const r = runEntrypoint({}, ['--config=/var/lib/kube-ipvs/config.conf', '--hostname-override=node a']);
  assert.equal(r.status, 0, r.stderr);
  const after = r.calls.filter((c) => !c.includes('-save'));
  assert.deepEqual(after, [...chose('nft'), 'modprobe -a ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh nf_conntrack',
    'node /app/main.js --config=/var/lib/kube-ipvs/config.conf --hostname-override=node a']);
  const noModules = runEntrypoint({ modprobeFails: true }, []);
  assert.equal(noModules.status, 0, 'modules may be built in: not fatal');
  assert.match(noModules.stderr, /could not load the IPVS modules/);
});

test('entrypoint: KUBE_IPVS_IPTABLES_MODE overrides detection; failures are fatal and clear', () => {
  const forced = runEntrypoint({ saves: { 'iptables-nft-save -t mangle': HINT } }, [], { KUBE_IPVS_IPTABLES_MODE: 'legacy' });
  assert.deepEqual(alternatives(forced.calls), chose('legacy'));
  assert.ok(!forced.calls.some((c) => c.includes('-save')), 'no detection');
  const bad = runEntrypoint({}, [], { KUBE_IPVS_IPTABLES_MODE: 'nftables' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /KUBE_IPVS_IPTABLES_MODE=nftables: expected legacy or nft/);
  const stuck = runEntrypoint({ alternativesFail: true }, []);
  assert.equal(stuck.status, 1);
  assert.match(stuck.stderr, /could not point iptables at \/usr\/sbin\/iptables-nft/);
  assert.ok(!stuck.calls.some((c) => c.startsWith('node ')), 'kube-ipvs does not start on the wrong backend');
});

test('entrypoint: --dry-run selects the iptables backend (it reads the host\'s rules) but loads no kernel module', () => {
  for (const args of [['--config=/c', '--dry-run'], ['--dry-run=true'], ['--dry-run', 'true'], ['--dry-run=1']]) {
    const r = runEntrypoint({}, args);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.calls.filter((c) => !c.includes('-save')), [...chose('nft'), `node /app/main.js ${args.join(' ')}`], args.join(' '));
  }
  for (const args of [['--dry-run=false'], ['--dry-run', 'false']]) {
    assert.ok(runEntrypoint({}, args).calls.some((c) => c.startsWith('modprobe ')), `${args.join(' ')}: a real run loads the modules`);
  }
});

test('entrypoint: --help, plan and --write-config-to touch nothing on the host', () => {
  for (const args of [['--help'], ['-h'], ['plan', '-f', 'x.yaml'], ['--config=/c', '--write-config-to=/tmp/x']]) {
    const r = runEntrypoint({}, args);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.calls, [`node /app/main.js ${args.join(' ')}`]);
  }
});
