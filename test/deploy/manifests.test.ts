// deploy/: every manifest parses and is a valid object of its kind; the kustomizations list
// every file; the DaemonSet is shaped like kubeadm's kube-proxy; and its arguments with the
// ConfigMap's config.conf are accepted by kube-ipvs' own flag and config parsing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import type { V1ClusterRoleBinding, V1ConfigMap, V1Container, V1DaemonSet, V1ServiceAccount } from '@kubernetes/client-node';
import { parseDaemonArgs } from '../../src/cli/daemon-args.ts';
import type { DaemonFlagValues } from '../../src/cli/daemon-flags.ts';
import { resolveAll, type Resolved } from '../../src/cli/daemon.ts';
import { parseHostPort } from '../../src/cli/daemon-options.ts';
import { run } from '../../src/cli/run.ts';
import { DEPLOY, ROOT, build, configMap, daemonSet, objectsIn, only, readManifests, yamlFiles, type Manifest } from './deploy-files.ts';
import { schemaProblems } from './k8s-schema.ts';

const KUSTOMIZATION = 'kustomize.config.k8s.io/v1beta1';
// Files in a kustomization directory that are not Kubernetes objects: kind's cluster config.
const notApplied = (m: Manifest): boolean => m.obj.apiVersion === 'kind.x-k8s.io/v1alpha4' && m.obj.kind === 'Cluster';
const kustomizationDirs = (): string[] => yamlFiles().filter((f) => basename(f) === 'kustomization.yaml').map(dirname);
const quiet = { stdout: () => undefined, stderr: () => undefined, readStdin: () => Promise.resolve('') };

test('every YAML file in deploy/ parses and is a valid object of its kind', () => {
  const files = yamlFiles();
  assert.ok(files.length >= 6, `deploy/ has its manifests (found ${files.length})`);
  for (const f of files) {
    for (const m of readManifests(f)) {
      assert.equal(typeof m.obj.apiVersion, 'string', `${m.file}: apiVersion`);
      assert.equal(typeof m.obj.kind, 'string', `${m.file}: kind`);
      if (m.obj.apiVersion === KUSTOMIZATION || notApplied(m)) continue;
      const meta = m.obj.metadata as { name?: unknown } | undefined;
      assert.ok(typeof meta?.name === 'string' && meta.name !== '', `${m.file}: metadata.name`);
      assert.deepEqual(schemaProblems(m.obj), [], `${m.file}: ${String(m.obj.kind)}`);
    }
  }
});

test('the schema check catches what kubectl --validate=strict would', () => {
  const ds = structuredClone(daemonSet()) as unknown as { spec: { template: { spec: Record<string, unknown> } } };
  ds.spec.template.spec.toleration = [{ operator: 'Exists' }];
  ds.spec.template.spec.hostNetwork = 'true';
  assert.deepEqual(schemaProblems(ds as unknown as Record<string, unknown>).sort(), [
    'DaemonSet.spec.template.spec.hostNetwork: expected a boolean, got "true"',
    'DaemonSet.spec.template.spec.toleration: unknown field of V1PodSpec',
  ]);
  assert.deepEqual(schemaProblems({ apiVersion: 'v1', kind: 'Deamonset' }), ['v1 Deamonset: not a Kubernetes kind (no model V1Deamonset)']);
});

test('each kustomization lists every YAML file beside it, and only files that exist', () => {
  const dirs = kustomizationDirs();
  assert.deepEqual(dirs.map((d) => relative(ROOT, d)).sort(), ['deploy', 'deploy/dry-run', 'deploy/kind', 'deploy/one-node']);
  for (const dir of dirs) {
    const k = only(readManifests(join(dir, 'kustomization.yaml')), 'Kustomization') as { resources?: string[]; patches?: { path?: string }[] };
    const listed = [...(k.resources ?? []), ...(k.patches ?? []).map((p) => p.path ?? '')];
    for (const p of listed) assert.ok(existsSync(join(dir, p)), `${relative(ROOT, dir)}/kustomization.yaml lists ${p}, which does not exist`);
    const beside = objectsIn(dir).filter((m) => m.obj.kind !== 'Kustomization' && !notApplied(m)).map((m) => basename(m.file));
    for (const f of beside) assert.ok(listed.includes(f), `${relative(ROOT, dir)}/kustomization.yaml does not list ${f}`);
  }
  const base = only(readManifests(join(DEPLOY, 'kustomization.yaml')), 'Kustomization') as { namespace?: string };
  assert.equal(base.namespace, 'kube-system', 'system-node-critical Pods belong in kube-system');
  for (const m of objectsIn()) {
    const meta = m.obj.metadata as { namespace?: string } | undefined;
    if (['ServiceAccount', 'ConfigMap', 'DaemonSet'].includes(String(m.obj.kind))) assert.equal(meta?.namespace, 'kube-system', m.file);
  }
});

test('the ServiceAccount, ClusterRoleBinding and DaemonSet refer to each other', () => {
  const all = objectsIn();
  const sa = only(all, 'ServiceAccount') as V1ServiceAccount;
  const binding = only(all, 'ClusterRoleBinding') as V1ClusterRoleBinding;
  const role = only(all, 'ClusterRole') as { metadata: { name: string } };
  assert.deepEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.metadata.name });
  assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: sa.metadata?.name, namespace: sa.metadata?.namespace }]);
  assert.equal(daemonSet().spec?.template.spec?.serviceAccountName, sa.metadata?.name);
});

function container(ds: V1DaemonSet): V1Container {
  const cs = ds.spec?.template.spec?.containers ?? [];
  assert.equal(cs.length, 1, 'one container');
  return cs[0]!;
}

test('the DaemonSet is shaped like kubeadm\'s kube-proxy', () => {
  const ds = daemonSet();
  const spec = ds.spec;
  assert.ok(spec?.template.spec !== undefined);
  const pod = spec.template.spec;
  const c = container(ds);
  const selector = spec.selector.matchLabels ?? {};
  assert.deepEqual(selector, { 'k8s-app': 'kube-ipvs' });
  for (const [k, v] of Object.entries(selector)) assert.equal(spec.template.metadata?.labels?.[k], v, 'the template matches the selector');
  assert.deepEqual(spec.updateStrategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } });
  assert.equal(pod.hostNetwork, true);
  assert.equal(pod.priorityClassName, 'system-node-critical');
  assert.equal(pod.dnsPolicy, 'Default', 'cluster DNS is behind a ClusterIP that kube-ipvs itself programs');
  assert.deepEqual(pod.tolerations, [{ operator: 'Exists' }], 'tolerates every taint');
  assert.equal(c.securityContext?.privileged, true);
  const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  assert.equal(c.image, `kube-ipvs:${version}`, 'the image tag is the package version (`make image` builds it)');
  assert.ok(c.resources?.requests?.cpu !== undefined && c.resources.requests.memory !== undefined, 'cpu and memory requests');

  const volumes = new Map((pod.volumes ?? []).map((v) => [v.name, v]));
  const mounts = new Map((c.volumeMounts ?? []).map((m) => [m.mountPath, m]));
  for (const m of mounts.values()) assert.ok(volumes.has(m.name), `volume ${m.name} is defined`);
  const modules = mounts.get('/lib/modules');
  assert.equal(modules?.readOnly, true, '/lib/modules read-only');
  assert.deepEqual(volumes.get(modules.name)?.hostPath, { path: '/lib/modules', type: 'Directory' });
  const lock = mounts.get('/run/xtables.lock');
  assert.ok(lock !== undefined && lock.readOnly !== true, '/run/xtables.lock writable');
  assert.deepEqual(volumes.get(lock.name)?.hostPath, { path: '/run/xtables.lock', type: 'FileOrCreate' });

  const env = new Map((c.env ?? []).map((e) => [e.name, e]));
  assert.equal(env.get('NODE_NAME')?.valueFrom?.fieldRef?.fieldPath, 'spec.nodeName', 'NODE_NAME from the downward API');
  assert.ok(c.args?.includes('--hostname-override=$(NODE_NAME)'), 'NODE_NAME is the node name');
  assert.equal(c.command, undefined, 'the image\'s entrypoint (iptables backend selection) runs');
  const cm = configMap();
  for (const e of env.values()) {
    const ref = e.valueFrom?.configMapKeyRef;
    if (ref === undefined) continue;
    assert.equal(ref.name, cm.metadata?.name, `${e.name} comes from the kube-ipvs ConfigMap`);
    assert.ok(ref.optional !== true && cm.data?.[ref.key] !== undefined, `${e.name}: the ConfigMap has ${ref.key}`);
  }
  for (const name of ['KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT']) assert.ok(env.get(name)?.valueFrom?.configMapKeyRef !== undefined, `${name} is set explicitly`);
  assert.match(cm.data?.KUBERNETES_SERVICE_PORT ?? '', /^\d{1,5}$/);

  assert.deepEqual([c.livenessProbe?.httpGet?.path, c.livenessProbe?.httpGet?.port], ['/livez', 10256]);
  assert.deepEqual([c.readinessProbe?.httpGet?.path, c.readinessProbe?.httpGet?.port], ['/readyz', 10256]);
});

/** kubelet's `$(VAR)` expansion of container args, from the container's env. */
function expand(args: readonly string[], vars: ReadonlyMap<string, string>): string[] {
  return args.map((a) => a.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (_m, name: string) => {
    const v = vars.get(name);
    assert.ok(v !== undefined, `args refer to $(${name}), which the container's env does not define`);
    return v;
  }));
}

/** The ConfigMap's files where the container sees them, written under `dir`: mountPath → local path. */
function mountedConfig(ds: V1DaemonSet, cm: V1ConfigMap, dir: string): Map<string, string> {
  const files = new Map<string, string>();
  const pod = ds.spec?.template.spec;
  for (const m of container(ds).volumeMounts ?? []) {
    const vol = pod?.volumes?.find((v) => v.name === m.name)?.configMap;
    if (vol?.name !== cm.metadata?.name || vol === undefined) continue;
    const items: readonly { key: string; path: string }[] = vol.items ?? Object.keys(cm.data ?? {}).map((key) => ({ key, path: key }));
    for (const { key, path } of items) {
      const text = cm.data?.[key];
      assert.ok(text !== undefined, `the ConfigMap has the mounted key ${key}`);
      const local = join(dir, path);
      writeFileSync(local, text);
      files.set(`${m.mountPath}/${path}`, local);
    }
  }
  return files;
}

interface Variant { readonly ds: V1DaemonSet; readonly cm: V1ConfigMap }

/** The DaemonSet and ConfigMap that `kubectl apply -k deploy/DIR` applies. */
function variant(dir = ''): Variant {
  const objs = build(join(DEPLOY, dir));
  for (const m of objs) assert.deepEqual(schemaProblems(m.obj), [], `deploy/${dir}: ${m.file} once patched`);
  return { ds: only(objs, 'DaemonSet') as V1DaemonSet, cm: only(objs, 'ConfigMap') as V1ConfigMap };
}

/** The DaemonSet's args for node `node`, with files from the ConfigMap swapped for local copies. */
function argsOnNode({ ds, cm }: Variant, node: string, dir: string): string[] {
  const c = container(ds);
  const vars = new Map((c.env ?? []).filter((e) => e.valueFrom?.fieldRef?.fieldPath === 'spec.nodeName').map((e) => [e.name, node]));
  const files = mountedConfig(ds, cm, dir);
  return expand(c.args ?? [], vars).map((a) => {
    const m = /^(--config)=(.+)$/.exec(a);
    if (m === null) return a;
    const local = files.get(m[2]!);
    assert.ok(local !== undefined, `${m[2]!} is a file of the mounted ConfigMap`);
    return `${m[1]!}=${local}`;
  });
}

/** Runs a variant's arguments and config through kube-ipvs' own parsing, as the container would. */
async function accepted(v: Variant): Promise<{ flags: DaemonFlagValues; r: Resolved }> {
  const dir = mkdtempSync(join(tmpdir(), 'kube-ipvs-deploy-'));
  const args = argsOnNode(v, 'node-a', dir);
  const flags = parseDaemonArgs(args);
  assert.ok(flags.config?.startsWith(dir) === true, '--config names the mounted config.conf');
  const warnings: string[] = [];
  const r = await resolveAll(flags, (w) => { warnings.push(w); });
  assert.deepEqual(warnings, [], 'no flag is overridden by the config file');
  assert.equal(r.config.nodeName, 'node-a', '--hostname-override=$(NODE_NAME) names the node');
  assert.equal(r.raw.proxyMode, 'ipvs');
  assert.equal(r.options.kubeconfig, undefined, 'in-cluster credentials (the ServiceAccount token), server from KUBERNETES_SERVICE_HOST');
  const c = container(v.ds);
  const healthz = parseHostPort(r.options.healthzBindAddress)?.port;
  assert.deepEqual([c.livenessProbe?.httpGet?.port, c.readinessProbe?.httpGet?.port], [healthz, healthz], 'the probes hit the health server');

  // End to end through the real command line, as the container runs it.
  const out = join(dir, 'effective.yaml');
  assert.equal(await run([...args, `--write-config-to=${out}`], quiet), 0);
  const again = await resolveAll({ config: out }, () => undefined);
  assert.deepEqual([again.config, again.options], [r.config, r.options]);
  return { flags, r };
}

test('the DaemonSet\'s arguments and the ConfigMap\'s config.conf are what kube-ipvs accepts', async () => {
  const { flags, r } = await accepted(variant());
  assert.equal(flags.dryRun, undefined);
  assert.deepEqual([r.options.healthzBindAddress, r.options.metricsBindAddress], ['0.0.0.0:10256', '127.0.0.1:10249']);
  assert.equal(r.config.scheduler, 'rr');
});

test('deploy/dry-run: the same proxy in --dry-run, off kube-proxy\'s ports, nothing else changed', async () => {
  const base = await accepted(variant());
  const dry = await accepted(variant('dry-run'));
  assert.equal(dry.flags.dryRun, true);
  assert.deepEqual([dry.r.options.healthzBindAddress, dry.r.options.metricsBindAddress], ['0.0.0.0:10266', '127.0.0.1:10259']);
  assert.deepEqual(dry.r.config, base.r.config);
  assert.deepEqual({ ...dry.r.options, healthzBindAddress: '', metricsBindAddress: '' }, { ...base.r.options, healthzBindAddress: '', metricsBindAddress: '' });
  const [b, d] = [variant().ds, variant('dry-run').ds];
  assert.deepEqual(container(d).args, [...(container(b).args ?? []), '--dry-run']);
  assert.deepEqual(container(d).env, container(b).env);
});

test('deploy/one-node: only on nodes labelled kube-ipvs/enabled=true', async () => {
  const v = variant('one-node');
  assert.deepEqual(v.ds.spec?.template.spec?.nodeSelector, { 'kubernetes.io/os': 'linux', 'kube-ipvs/enabled': 'true' });
  await accepted(v);
});

test('a broken DaemonSet argument would be caught', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kube-ipvs-deploy-'));
  assert.throws(() => parseDaemonArgs([...argsOnNode(variant(), 'node-a', dir), '--hostname-overide=x']), /unknown option '--hostname-overide=x'/);
  const cfg = join(dir, 'bad.conf');
  writeFileSync(cfg, (configMap().data?.['config.conf'] ?? '').replace('scheduler: rr', 'scheduler: fastest'));
  assert.equal(await run([`--config=${cfg}`, '--write-config-to', join(dir, 'x.yaml')], quiet), 2);
});

test('deploy/kind: the API server is kind\'s control plane, nothing else changes', async () => {
  const dir = join(DEPLOY, 'kind');
  const k = only(readManifests(join(dir, 'kustomization.yaml')), 'Kustomization') as { resources?: string[] };
  assert.deepEqual(k.resources, ['..']);
  const patch = only(readManifests(join(dir, 'apiserver.yaml')), 'ConfigMap') as V1ConfigMap;
  const base = configMap();
  assert.deepEqual([patch.metadata?.name, patch.metadata?.namespace], [base.metadata?.name, base.metadata?.namespace], 'patches the base ConfigMap');
  assert.deepEqual(patch.data, { KUBERNETES_SERVICE_HOST: 'kind-control-plane', KUBERNETES_SERVICE_PORT: '6443' });
  assert.equal(base.data?.KUBERNETES_SERVICE_HOST, '', 'the base leaves the API server to the user, so no cluster gets a wrong one');
  const kind = variant('kind');
  assert.deepEqual(kind.cm.data, { ...base.data, ...patch.data });
  assert.deepEqual(kind.ds, variant().ds);
  await accepted(kind);
  const cluster = only(readManifests(join(dir, 'cluster.yaml')), 'Cluster') as { networking?: { kubeProxyMode?: string } };
  assert.equal(cluster.networking?.kubeProxyMode, 'none');
});
