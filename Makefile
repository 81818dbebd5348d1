# kube-ipvs — the two commands a person needs are `make demo` and `make test`.
# Both set themselves up on a fresh machine: npm packages (including a Node 24 binary,
# the `node` devDependency, so an older system Node is fine), gcc for the health-check
# prober (make native) and, for the real-kernel tests, Debian packages for the QEMU VM.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)

STAMP := node_modules/.kube-ipvs-installed

.PHONY: all setup native build lint typecheck unit e2e test demo clean image image-multiarch bench bench-smoke bench-vm bench-health

all: test

$(STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The health-check prober (src/native: TCP SYN probes, HTTP checks): a small C program the daemon runs as one
# long-lived child. Built here for the tests, `make demo` and the VM (which runs the host's
# files: same glibc); the image builds its own (Dockerfile). gcc and libc6-dev if missing.
PROBER := bin/kube-ipvs-prober
PROBER_SRC := src/native/prober.c src/native/http.c src/native/uring.c
$(PROBER): $(PROBER_SRC) src/native/prober.h src/native/uring.h
	test/support/apt-install.sh gcc gcc
	test/support/apt-install.sh libc6-dev /usr/include/stdio.h
	@mkdir -p $(@D)
	gcc -O2 -Wall -Wextra -Werror -std=gnu11 -o $@ $(PROBER_SRC)

native: $(PROBER)

setup: $(STAMP) $(PROBER)

build: setup
	tsc -p tsconfig.build.json

lint: setup
	eslint .

typecheck: setup
	tsc -p tsconfig.json --noEmit

unit: setup
	test/deploy/setup.sh
	test/support/setup-nft.sh
	node --test --test-reporter=spec 'test/**/*.test.ts'

# Real-kernel tests: test/kernel/*.vmtest.ts run inside a QEMU VM booted from Debian's kernel
# (test/vm/). One file: make e2e E2E=test/kernel/plan-apply.vmtest.ts
E2E ?= test/kernel/**/*.vmtest.ts
e2e: setup
	test/vm/setup.sh
	test/vm/run.sh --timeout 2400 --mem 4096 -- $(CURDIR)/node_modules/.bin/node test/kernel/run-isolated.ts '$(E2E)'

# The one test command: lint, typecheck, all tests (unit, then the real kernel).
test: lint typecheck unit e2e

# The main job: the real daemon on a real IPVS kernel in a VM (test/kernel/demo.ts) — the
# example cluster served by a test API server, traffic to a ClusterIP, a live change.
demo: setup
	@test/vm/setup.sh
	@echo "booting a VM with Debian's kernel (QEMU, software emulation: ~5 s)..."
	@test/vm/run.sh --timeout 600 -- $(CURDIR)/node_modules/.bin/node test/kernel/demo.ts

# Benchmarks with the fake kernel (not part of `make test`): the real daemon process against the
# test API server with realistic objects (BENCH_SIZES, each idle BENCH_IDLE_S seconds), then the
# compute-only figures. 50,000 Services: make bench BENCH_SIZES=1000,10000,50000
BENCH_SIZES ?= 1000,10000
BENCH_IDLE_S ?= 120
bench: setup
	BENCH_SIZES=$(BENCH_SIZES) BENCH_IDLE_S=$(BENCH_IDLE_S) node bench/run.ts 100,1000,10000 5

# Active health checks (not part of `make test` or `make bench`): the prober's CPU probing
# 10,000 endpoints on real local listeners at 1 s, 60 s per probe kind (bench/results/health-checks.json).
bench-health: setup
	node bench/health-checks.ts all 10000 60

# A quick check that the bench still works (100 Services; bench/results/smoke.json).
bench-smoke: setup
	BENCH_SIZES=100 BENCH_IDLE_S=5 node bench/run.ts 100 2 smoke

# The real kernel (QEMU VM, software emulation: ratios only): the cold sync and one-endpoint
# changes at 1,000 Services through the daemon's code vs the raw tools fed the same batches.
# Both rules backends on the real kernel, per size SERVICES:RUNS (software emulation: compare, do not read as times).
BENCH_VM ?= 1000:3 10000:1
bench-vm: setup
	test/vm/setup.sh
	for s in $(BENCH_VM); do \
	  test/vm/run.sh --timeout 5400 --mem 4096 --rw $(CURDIR)/bench/results -- $(CURDIR)/node_modules/.bin/node bench/vm-apply.ts $${s%%:*} $${s##*:} iptables,nftables $(CURDIR)/bench/results/vm-backends-$${s%%:*}.json || exit $$?; \
	done

clean:
	rm -rf dist .cache node_modules bin

# The container image (Dockerfile). Needs a Docker engine, so it is not part of `make test`
# (test/deploy/ checks the Dockerfile, its packages and the build it runs offline instead).
# The name is the one deploy/base/kustomization.yaml sets; another one:
#   make image IMAGE=registry.example.com/kube-ipvs:0.1.0
# make image-multiarch builds linux/amd64 and linux/arm64 with buildx and pushes them
# (a multi-platform image cannot be loaded into the local engine): needs `docker buildx` and,
# on an amd64 host, QEMU binfmt handlers for arm64 (docker run --privileged tonistiigi/binfmt --install arm64).
VERSION := $(shell sed -n 's/^  "version": "\(.*\)",$$/\1/p' package.json)
REVISION := $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
IMAGE ?= ghcr.io/kube-ipvs/kube-ipvs:$(VERSION)
PLATFORMS ?= linux/amd64,linux/arm64
image:
	docker build --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) -t $(IMAGE) .
image-multiarch:
	docker buildx build --platform $(PLATFORMS) --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) -t $(IMAGE) --push .
