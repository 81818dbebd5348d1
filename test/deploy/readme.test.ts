// The README's deploy and migration commands, run as far as this machine can: every
// `kubectl apply/delete -k DIR` and `kubectl kustomize DIR` renders with the real kubectl, every
// JSON patch parses, every deploy/ path exists, the own-overlay example sets the image, the
// kube-prometheus-stack values select the kube-ipvs Pods, and the table of contents resolves.
// (`kubectl apply` itself needs an API server; the README says which steps were not run.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parse } from 'yaml';
import { BASE, ROOT, daemonSet, kustomize } from './deploy-files.ts';

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const blocks = (lang: string): string[] => [...README.matchAll(new RegExp(`^\\s*\`\`\`${lang}\\n([\\s\\S]*?)^\\s*\`\`\``, 'gm'))].map((m) => m[1] ?? '');

test('every kubectl -k / kubectl kustomize directory in the README renders with kubectl kustomize', () => {
  const dirs = new Set([...README.matchAll(/kubectl (?:apply|delete) -k (\S+)|kubectl kustomize (\S+)/g)].map((m) => (m[1] ?? m[2] ?? '').replace(/[`,;).]+$/, '')));
  for (const d of ['deploy/base', 'deploy/overlays/dry-run', 'deploy/overlays/one-node', 'deploy/overlays/kind', 'deploy/overlays/kubeadm', 'deploy/overlays/monitoring']) assert.ok(dirs.has(d), `the README applies ${d}`);
  for (const d of [...dirs].filter((x) => !x.includes('NAME'))) {
    assert.ok(existsSync(join(ROOT, d, 'kustomization.yaml')), `${d}: a kustomization`);
    assert.ok(kustomize(join(ROOT, d)).some((m) => m.obj.kind === 'DaemonSet'), `${d} renders the DaemonSet`);
  }
});

test('every JSON patch in the README parses, every deploy/ path it names exists', () => {
  const patches = [...README.matchAll(/ -p \\?\s*'([^']+)'/g)].map((m) => m[1] ?? '');
  assert.ok(patches.length >= 2);
  for (const p of patches) assert.doesNotThrow(() => JSON.parse(p), p);
  const paths = new Set([...README.matchAll(/[`\s](deploy\/(?:base|overlays)\b[A-Za-z0-9_./*-]*)/g)].map((m) => (m[1] ?? '').replace(/[.]+$/, '').replace(/\/\*$/, '')));
  assert.ok(paths.size >= 8);
  for (const p of paths) if (!p.includes('NAME')) assert.ok(existsSync(join(ROOT, p)), `${p} exists`);
});

test('the README\'s own-overlay example sets the image with one images: entry', () => {
  const example = blocks('yaml').find((b) => b.includes('kustomization.yaml of your own overlay'));
  assert.ok(example !== undefined, 'the README shows an overlay of your own');
  const k = parse(example) as { resources: string[]; images: { name: string; newName: string; newTag: string }[] };
  const dir = mkdtempSync(join(tmpdir(), 'kube-ipvs-readme-'));
  // The example sits next to a checkout named kube-ipvs: point it at this one.
  writeFileSync(join(dir, 'kustomization.yaml'), example.replace(/^(\s+- )kube-ipvs\//m, `$1${relative(dir, ROOT)}/`));
  const [image] = k.images;
  assert.ok(image !== undefined);
  assert.equal(daemonSet(dir).spec?.template.spec?.containers[0]?.image, `${image.newName}:${image.newTag}`);
  assert.equal(image.name, daemonSet(BASE).spec?.template.spec?.containers[0]?.image?.split(':')[0], 'images: names the image the base uses');
});

test('the kube-prometheus-stack values in the README select the kube-ipvs Pods', () => {
  const values = blocks('yaml').map((b) => parse(b) as { kubeProxy?: { service?: { selector?: Record<string, string> } } }).find((v) => v.kubeProxy !== undefined);
  const selector = values?.kubeProxy?.service?.selector;
  assert.ok(selector !== undefined && Object.keys(selector).length > 0);
  const labels = daemonSet(BASE).spec?.template.metadata?.labels ?? {};
  for (const [k, v] of Object.entries(selector)) assert.equal(labels[k], v, `Pods labelled ${k}=${v}`);
});

test('the README\'s table of contents links to its headings', () => {
  const anchor = (h: string): string => h.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-');
  const headings = new Set([...README.matchAll(/^#{2,4} (.+)$/gm)].map((m) => anchor(m[1] ?? '')));
  const toc = README.slice(README.indexOf('## Contents'), README.indexOf('## What it is'));
  const links = [...toc.matchAll(/\]\(#([^)]+)\)/g)].map((m) => m[1] ?? '');
  assert.ok(links.length >= 10);
  for (const l of links) assert.ok(headings.has(l), `#${l} is a heading`);
  for (const f of [...README.matchAll(/\]\(((?:docs\/)?[A-Za-z.]+\.md)(?:#[^)]*)?\)/g)].map((m) => m[1] ?? '')) assert.ok(existsSync(join(ROOT, f)), f);
});
