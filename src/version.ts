// The version `--version` prints and the build-info metric reports: package.json's.
import { readFileSync } from 'node:fs';

function readVersion(): string {
  try {
    // src/version.ts and dist/version.js are both one level below the package root.
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

export const VERSION = readVersion();

/** The kube-proxy release whose flags and configuration kube-ipvs takes. */
export const KUBE_PROXY_COMPAT = 'v1.35';

/** `--version` (kube-proxy prints "Kubernetes vX.Y.Z"); `--version=raw` the details. */
export function versionText(mode: 'short' | 'raw'): string {
  if (mode === 'raw') {
    return `${JSON.stringify({ gitVersion: `v${VERSION}`, compatibleWith: `kube-proxy ${KUBE_PROXY_COMPAT}`, runtime: `node ${process.version}`, platform: `${process.platform}/${process.arch}` }, null, 2)}\n`;
  }
  return `kube-ipvs v${VERSION} (kube-proxy ${KUBE_PROXY_COMPAT} compatible)\n`;
}
