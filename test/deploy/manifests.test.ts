// deploy/, as `kubectl kustomize` renders it (the real one; never an imitation): the base and
// every overlay render, each object is a valid object of its kind, the DaemonSet is shaped like
// kubeadm's kube-proxy, and its arguments with the ConfigMap's config.conf are accepted by
// kube-ipvs' own flag and config parsing (so a flag the code does not have fails here).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import type { V1ClusterRoleBinding, V1ConfigMap, V1Container, V1DaemonSet, V1Service, V1ServiceAccount } from '@kubernetes/client-node';
import { parseDaemonArgs, type DaemonFlagValues } from '../../src/config/flags.ts';
import { resolveAll, type Resolved } from '../../src/cli/run-daemon.ts';
import { parseHostPort } from '../../src/config/merged.ts';
import { run } from '../../src/cli/run.ts';
import { tokenFiles } from '../../src/cli/token-file.ts';
import { BASE, DEPLOY, ROOT, configMap, daemonSet, kustomize, only, readManifests, yamlFiles, type Manifest } from './deploy-files.ts';
import { schemaProblems } from './k8s-schema.ts';
import { parse, parseAllDocuments } from 'yaml';

const OVERLAYS = ['dry-run', 'kind', 'kubeadm', 'monitoring', 'one-node'];
const overlay = (name: string): string => join(DEPLOY, 'overlays', name);
// Prometheus Operator kinds (their CRDs are not in client-node's models): only the monitoring overlay has them.
const OPERATOR = 'monitoring.coreos.com/v1';
const quiet = { stdout: () => undefined, stderr: () => undefined, readStdin: () => Promise.resolve('') };
const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const IMAGE = 'ghcr.io/kube-ipvs/kube-ipvs';
const nameOf = (m: Manifest): string => (m.obj.metadata as { name?: string } | undefined)?.name ?? '';

test('every YAML file in deploy/ parses: objects with a kind, or a JSON patch (a list)', () => {
  const files = yamlFiles();
  assert.ok(files.length >= 10, `deploy/ has its manifests (found ${files.length})`);
  for (const f of files) {
    for (const doc of parseAllDocuments(readFileSync(f, 'utf8'))) {
      assert.deepEqual(doc.errors, [], f);
      const v: unknown = doc.toJS();
      if (Array.isArray(v)) for (const op of v) assert.match(String((op as { op?: unknown }).op), /^(add|remove|replace|move|copy|test)$/, `${f}: a JSON patch`);
      else assert.equal(typeof (v as { kind?: unknown }).kind, 'string', `${f}: kind`);
    }
  }
});

test('deploy/ is a base and overlays of it: kubectl kustomize renders each into valid objects, all in kube-system', () => {
  const dirs = yamlFiles().filter((f) => basename(f) === 'kustomization.yaml').map((f) => relative(DEPLOY, dirname(f))).sort();
  assert.deepEqual(dirs, ['base', ...OVERLAYS.map((o) => `overlays/${o}`)]);
  for (const dir of dirs) {
    const k = only(readManifests(join(DEPLOY, dir, 'kustomization.yaml')), 'Kustomization') as { resources?: string[] };
    if (dir !== 'base') assert.ok(k.resources?.includes('../../base'), `${dir} builds on ../../base`);
    const objs = kustomize(join(DEPLOY, dir));
    assert.ok(objs.length >= 6, `${dir}: rendered ${objs.length} objects`);
    for (const m of objs) {
      assert.ok(nameOf(m) !== '', `${dir}: ${String(m.obj.kind)} has a name`);
      const ns = (m.obj.metadata as { namespace?: string }).namespace;
      if (!String(m.obj.kind).startsWith('Cluster')) assert.equal(ns, 'kube-system', `${dir}: ${String(m.obj.kind)} ${nameOf(m)}`);
      if (m.obj.apiVersion === OPERATOR) assert.equal(dir, 'overlays/monitoring', 'operator kinds only in the monitoring overlay');
      else assert.deepEqual(schemaProblems(m.obj), [], `${dir}: ${String(m.obj.kind)} ${nameOf(m)}`);
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

test('each kustomization uses every file beside it (an unlisted patch would silently not apply)', () => {
  for (const dir of ['base', ...OVERLAYS.map((o) => `overlays/${o}`)].map((d) => join(DEPLOY, d))) {
    const k = only(readManifests(join(dir, 'kustomization.yaml')), 'Kustomization') as {
      resources?: string[]; patches?: { path?: string }[]; configMapGenerator?: { files?: string[] }[];
    };
    const used = [...(k.resources ?? []), ...(k.patches ?? []).map((p) => p.path ?? ''), ...(k.configMapGenerator ?? []).flatMap((g) => g.files ?? [])];
    const beside = yamlFiles(dir).concat().filter((f) => dirname(f) === dir).map((f) => basename(f))
      .filter((f) => f !== 'kustomization.yaml' && f !== 'cluster.yaml'); // kind's cluster config is not applied
    for (const f of beside) assert.ok(used.includes(f), `${relative(ROOT, dir)}/kustomization.yaml does not use ${f}`);
  }
});

test('the ServiceAccount, ClusterRoleBinding and DaemonSet refer to each other', () => {
  const all = kustomize(BASE);
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

test('the image: fully qualified (never Docker Hub by accident), tagged with the package version, set in one place', () => {
  for (const dir of [BASE, ...OVERLAYS.map(overlay)]) assert.equal(container(daemonSet(dir)).image, `${IMAGE}:${version}`, relative(ROOT, dir));
  const [registry = ''] = IMAGE.split('/');
  assert.ok(registry.includes('.') || registry.includes(':'), 'the first path segment is a registry host, so no `docker.io/` is implied');
  const k = only(readManifests(join(BASE, 'kustomization.yaml')), 'Kustomization') as { images?: { name: string; newName?: string; newTag?: string }[] };
  assert.deepEqual(k.images, [{ name: IMAGE, newName: IMAGE, newTag: version }], 'the base\'s images: entry names the image and the version');

  // The README's own-overlay example, as a user copies it: one images: entry changes the image everywhere.
  const dir = mkdtempSync(join(tmpdir(), 'kube-ipvs-overlay-'));
  writeFileSync(join(dir, 'kustomization.yaml'), `resources:\n  - ${relative(dir, BASE)}\nimages:\n  - name: ${IMAGE}\n    newName: registry.example.com/infra/kube-ipvs\n    newTag: 0.1.0-custom\n`);
  assert.equal(container(daemonSet(dir)).image, 'registry.example.com/infra/kube-ipvs:0.1.0-custom');
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

interface Variant { readonly ds: V1DaemonSet; readonly cm: V1ConfigMap; readonly metrics: V1Service }

/** The DaemonSet, ConfigMap and metrics Service that `kubectl apply -k` of a directory applies. */
function variant(dir = BASE): Variant {
  const objs = kustomize(dir);
  return { ds: only(objs, 'DaemonSet') as V1DaemonSet, cm: only(objs, 'ConfigMap', 'kube-ipvs') as V1ConfigMap, metrics: only(objs, 'Service', 'kube-ipvs-metrics') as V1Service };
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
  // The metrics Service reaches the metrics server: same port, on the node's addresses.
  const metrics = parseHostPort(r.options.metricsBindAddress);
  assert.equal(metrics?.host, '0.0.0.0', 'metrics served on the node\'s addresses, where the Service\'s endpoints are');
  assert.deepEqual(v.metrics.spec?.ports?.map((p) => [p.name, p.targetPort]), [['http-metrics', metrics.port]]);
  for (const [k, val] of Object.entries(v.metrics.spec.selector ?? {})) assert.equal(v.ds.spec?.template.metadata?.labels?.[k], val, 'the Service selects the kube-ipvs Pods');
  assert.ok(Object.keys(v.metrics.spec.selector ?? {}).length > 0);

  // End to end through the real command line, as the container runs it.
  const out = join(dir, 'effective.yaml');
  assert.equal(await run([...args, `--write-config-to=${out}`], quiet), 0);
  const again = await resolveAll({ config: out }, () => undefined);
  assert.deepEqual([again.config, again.options], [r.config, r.options]);
  return { flags, r };
}

test('the DaemonSet\'s arguments and the ConfigMap\'s config.conf are what kube-ipvs accepts; metrics where the Service looks', async () => {
  const { flags, r } = await accepted(variant());
  assert.equal(flags.dryRun, undefined);
  assert.deepEqual([r.options.healthzBindAddress, r.options.metricsBindAddress], ['0.0.0.0:10256', '0.0.0.0:10249']);
  assert.equal(r.config.scheduler, 'rr');
  assert.equal(variant().metrics.metadata?.labels?.jobLabel, 'kube-proxy', 'scraped as job="kube-proxy" (KubeProxyDown keeps working)');
});

test('overlays/dry-run: the same proxy in --dry-run, off kube-proxy\'s ports, under its own job name, nothing else changed', async () => {
  const base = await accepted(variant());
  const dry = await accepted(variant(overlay('dry-run')));
  assert.equal(dry.flags.dryRun, true);
  assert.deepEqual([dry.r.options.healthzBindAddress, dry.r.options.metricsBindAddress], ['0.0.0.0:10266', '0.0.0.0:10259']);
  assert.deepEqual(dry.r.config, base.r.config);
  assert.deepEqual({ ...dry.r.options, healthzBindAddress: '', metricsBindAddress: '' }, { ...base.r.options, healthzBindAddress: '', metricsBindAddress: '' });
  const [b, d] = [variant(), variant(overlay('dry-run'))];
  assert.deepEqual(container(d.ds).args, [...(container(b.ds).args ?? []), '--dry-run']);
  assert.deepEqual(container(d.ds).env, container(b.ds).env);
  assert.equal(d.metrics.metadata?.labels?.jobLabel, 'kube-ipvs-dry-run', 'not mixed with kube-proxy\'s series');
});

test('overlays/one-node: only on nodes labelled kube-ipvs/enabled=true', async () => {
  const v = variant(overlay('one-node'));
  assert.deepEqual(v.ds.spec?.template.spec?.nodeSelector, { 'kubernetes.io/os': 'linux', 'kube-ipvs/enabled': 'true' });
  const withoutSelector = (ds: V1DaemonSet): V1DaemonSet => {
    const copy = structuredClone(ds);
    if (copy.spec?.template.spec !== undefined) copy.spec.template.spec.nodeSelector = {};
    return copy;
  };
  assert.deepEqual(withoutSelector(v.ds), withoutSelector(variant().ds), 'nothing else changes');
  await accepted(v);
});

test('a broken DaemonSet argument or config would be caught', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kube-ipvs-deploy-'));
  assert.throws(() => parseDaemonArgs([...argsOnNode(variant(), 'node-a', dir), '--hostname-overide=x']), /unknown option '--hostname-overide=x'/);
  const cfg = join(dir, 'bad.conf');
  writeFileSync(cfg, (configMap().data?.['config.conf'] ?? '').replace('scheduler: rr', 'scheduler: fastest'));
  assert.equal(await run([`--config=${cfg}`, '--write-config-to', join(dir, 'x.yaml')], quiet), 2);
});

test('overlays/kind: the API server is kind\'s control plane, nothing else changes', async () => {
  const kind = variant(overlay('kind'));
  const base = configMap();
  assert.deepEqual(kind.cm.data, { ...base.data, KUBERNETES_SERVICE_HOST: 'kind-control-plane', KUBERNETES_SERVICE_PORT: '6443' });
  assert.equal(base.data?.KUBERNETES_SERVICE_HOST, '', 'the base leaves the API server to the user, so no cluster gets a wrong one');
  assert.deepEqual(kind.ds, variant().ds);
  await accepted(kind);
  const cluster = only(readManifests(join(overlay('kind'), 'cluster.yaml')), 'Cluster') as { networking?: { kubeProxyMode?: string } };
  assert.equal(cluster.networking?.kubeProxyMode, 'none');
});

test('overlays/monitoring: a ServiceMonitor that finds the metrics Service and names the job kube-proxy; the dashboard for Grafana\'s sidecar', async () => {
  const dir = overlay('monitoring');
  const v = variant(dir);
  await accepted(v);
  assert.deepEqual(v.ds, variant().ds);
  const objs = kustomize(dir);
  const sm = only(objs, 'ServiceMonitor') as { spec: { jobLabel?: string; selector: { matchLabels: Record<string, string> }; namespaceSelector: { matchNames: string[] }; endpoints: { port: string }[] } };
  const labels = v.metrics.metadata?.labels ?? {};
  for (const [k, val] of Object.entries(sm.spec.selector.matchLabels)) assert.equal(labels[k], val, `the ServiceMonitor's selector ${k}`);
  assert.ok(sm.spec.namespaceSelector.matchNames.includes(v.metrics.metadata?.namespace ?? ''));
  for (const e of sm.spec.endpoints) assert.ok(v.metrics.spec?.ports?.some((p) => p.name === e.port), `endpoint port ${e.port} is a port of the Service`);
  assert.equal(labels[sm.spec.jobLabel ?? ''], 'kube-proxy', 'job="kube-proxy", as kube-prometheus-stack\'s KubeProxyDown expects');
  const dash = only(objs, 'ConfigMap', 'kube-ipvs-dashboard') as V1ConfigMap;
  assert.equal(dash.metadata?.labels?.grafana_dashboard, '1');
  assert.deepEqual(JSON.parse(dash.data?.['kube-ipvs-dashboard.json'] ?? ''), JSON.parse(readFileSync(join(dir, 'kube-ipvs-dashboard.json'), 'utf8')));
  const rule = only(objs, 'PrometheusRule') as { spec: { groups: { rules: { alert?: string }[] }[] } };
  assert.ok(rule.spec.groups.flatMap((g) => g.rules).length >= 5);
});

// kubeadm's kube-proxy ConfigMaps, as `kubectl -n kube-system get cm kube-proxy -o yaml` shows them.
const KUBEADM = join(ROOT, 'test', 'fixtures', 'kube-proxy', 'kubeadm');
const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

test('overlays/kubeadm: kubeadm\'s kube-proxy ConfigMap mounted and used as is (config, kubeconfig, token file), no API server address to set', async () => {
  const dir = overlay('kubeadm');
  const base = variant();
  const { ds, metrics } = variant(dir);
  const c = container(ds);
  const pod = ds.spec?.template.spec;
  assert.deepEqual(c.args, ['--config=/var/lib/kube-proxy/config.conf', '--hostname-override=$(NODE_NAME)'], 'kubeadm\'s kube-proxy arguments');
  const config = pod?.volumes?.find((v) => v.configMap !== undefined);
  assert.deepEqual(config?.configMap, { name: 'kube-proxy', items: [{ key: 'config.conf', path: 'config.conf' }, { key: 'kubeconfig.conf', path: 'kubeconfig.conf' }] });
  assert.deepEqual(c.volumeMounts?.find((m) => m.name === config.name), { name: config.name, mountPath: '/var/lib/kube-proxy', readOnly: true });
  // The server comes from kubeconfig.conf: no KUBERNETES_SERVICE_HOST/PORT that must be filled in.
  assert.deepEqual(c.env?.map((e) => e.name), ['NODE_NAME']);
  // kubeconfig.conf's tokenFile and CA are the Pod's ServiceAccount token, mounted by the kubelet.
  assert.notEqual(pod?.automountServiceAccountToken, false);
  const sa = only(kustomize(dir), 'ServiceAccount') as V1ServiceAccount;
  assert.equal(sa.metadata?.name, pod?.serviceAccountName);
  assert.notEqual(sa.automountServiceAccountToken, false);
  // Nothing else differs from the base.
  const strip = (d: V1DaemonSet): V1DaemonSet => {
    const copy = structuredClone(d);
    const p = copy.spec?.template.spec;
    const k = p?.containers[0];
    if (p === undefined || k === undefined) return copy;
    p.volumes = (p.volumes ?? []).filter((v) => v.configMap === undefined);
    k.volumeMounts = (k.volumeMounts ?? []).filter((m) => p.volumes?.some((v) => v.name === m.name));
    k.args = [];
    k.env = [];
    return copy;
  };
  assert.deepEqual(strip(ds), strip(base.ds));

  const versions = readdirSync(KUBEADM).filter((f) => /^v1\.\d+\.yaml$/.test(f));
  assert.ok(versions.length >= 5, 'kubeadm v1.31-v1.35');
  for (const file of versions) {
    const cm = parse(readFileSync(join(KUBEADM, file), 'utf8')) as V1ConfigMap;
    assert.equal(cm.metadata?.name, 'kube-proxy');
    const local = mkdtempSync(join(tmpdir(), 'kube-ipvs-kubeadm-'));
    const v = { ds, cm, metrics };
    const args = argsOnNode(v, 'node-a', local);
    const mounted = mountedConfig(ds, cm, local);
    const warnings: string[] = [];
    const r = await resolveAll(parseDaemonArgs(args), (w) => { warnings.push(w); });
    assert.deepEqual(warnings, [], `${file}: no warning`);
    assert.equal(r.config.nodeName, 'node-a');
    // Every path the configuration refers to is mounted in the container.
    const kubeconfig = r.options.kubeconfig;
    assert.equal(kubeconfig, '/var/lib/kube-proxy/kubeconfig.conf', `${file}: config.conf's clientConnection.kubeconfig`);
    const kubeconfigLocal = mounted.get(kubeconfig);
    assert.ok(kubeconfigLocal !== undefined, `${file}: ${kubeconfig} is a file of the mounted ConfigMap`);
    const text = readFileSync(kubeconfigLocal, 'utf8');
    assert.deepEqual([...tokenFiles(text, kubeconfig).values()], [`${SA_DIR}/token`], `${file}: the token kube-ipvs reads is the ServiceAccount's`);
    const kc = parse(text) as { clusters: { cluster: { 'certificate-authority'?: string } }[] };
    assert.deepEqual(kc.clusters.map((x) => x.cluster['certificate-authority']), [`${SA_DIR}/ca.crt`]);
    const healthz = parseHostPort(r.options.healthzBindAddress)?.port;
    assert.deepEqual([c.livenessProbe?.httpGet?.port, c.readinessProbe?.httpGet?.port], [healthz, healthz], `${file}: the probes hit the health server`);
    // As kube-proxy with kubeadm's config: metrics on the node's loopback only (the README says how to open them).
    assert.equal(r.options.metricsBindAddress, '127.0.0.1:10249');
    const out = join(local, 'effective.yaml');
    assert.equal(await run([...args, `--write-config-to=${out}`], quiet), 0);
    assert.deepEqual(parse(readFileSync(out, 'utf8')), parse(readFileSync(join(KUBEADM, 'effective.yaml'), 'utf8')));
  }
});
