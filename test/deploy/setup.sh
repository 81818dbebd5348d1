#!/usr/bin/env bash
# Installs what test/deploy/ needs beyond npm, only if missing: Debian's `prometheus` package
# (promtool and the Prometheus server that test/deploy/monitoring.test.ts runs on loopback).
# kubectl (v1.27+, for `kubectl kustomize`) is not a Debian bookworm package: when it is
# missing, this says how to get it and the deploy tests fail saying the same.
# The package's own service is not started here (Docker's policy-rc.d, or no init system);
# the tests run their own Prometheus on a free loopback port.
set -euo pipefail

say() { echo "deploy-setup: $*" >&2; }

"$(dirname "$0")/../support/apt-install.sh" prometheus promtool prometheus

if ! command -v "${KUBECTL:-kubectl}" >/dev/null; then
  say "kubectl not found: the deploy tests need kubectl v1.27+ (kubectl kustomize, kustomize v5)."
  say "install it from https://kubernetes.io/docs/tasks/tools/ (Debian: the kubectl package of https://pkgs.k8s.io)"
fi
