// kube-proxy's build-info metric (k8s.io/component-base/metrics: kubernetes_build_info, a
// constant 1 labelled with the build), so fleet dashboards that count proxy versions by it see
// kube-ipvs too. Go-specific labels carry their Node.js counterpart.
import { Gauge, type Registry } from 'prom-client';
import { VERSION } from '../version.ts';

export function registerBuildInfo(registry: Registry, version = VERSION): void {
  const [major = '0', minor = '0'] = version.split('.');
  new Gauge({
    name: 'kubernetes_build_info',
    help: 'A metric with a constant \'1\' value labeled by major, minor, git version, git commit, git tree state, build date, Go version, and compiler from which Kubernetes was built, and platform on which it is running.',
    labelNames: ['major', 'minor', 'git_version', 'git_commit', 'git_tree_state', 'build_date', 'go_version', 'compiler', 'platform'],
    registers: [registry],
  }).set({
    major, minor, git_version: `v${version}`, git_commit: '', git_tree_state: '', build_date: '',
    go_version: `node ${process.version}`, compiler: 'node', platform: `${process.platform}/${process.arch}`,
  }, 1);
}
