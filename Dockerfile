# kube-ipvs image: `make image` (needs a Docker engine; `make image-multiarch` for amd64 and
# arm64 with buildx). Debian bookworm with Node 24, the kernel tools kube-ipvs drives, and only
# the npm dependencies it runs with.
# test/deploy/image.test.ts checks this file offline: the base tag (pinned: the Node version the
# tests run on, from package-lock.json), the Debian packages, the build output the entrypoint
# runs, the production-only install, and the version label.
ARG NODE_IMAGE=node:24.21.0-bookworm-slim

# 1. Compile TypeScript to dist/ (needs the dev dependencies: typescript). --ignore-scripts: the
#    `node` devDependency would download a second Node 24 binary; the image's node is used.
FROM ${NODE_IMAGE} AS build
# The version label comes from the build (`make image` passes package.json's version); a build
# without it, or with another version than the package's, fails here.
ARG VERSION
WORKDIR /src
COPY package.json package-lock.json ./
RUN test -n "${VERSION}" && test "$(node -p 'require("./package.json").version')" = "${VERSION}"
RUN npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN node_modules/.bin/tsc -p tsconfig.build.json

# 2. kube-ipvs-prober (src/native), the health checks' helper (TCP, HTTP): Debian's gcc on the
#    same bookworm base, so it links the glibc of the image it runs in. Same flags as `make native`.
FROM ${NODE_IMAGE} AS prober
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY src/native ./src/native
RUN gcc -O2 -Wall -Wextra -Werror -std=gnu11 -o kube-ipvs-prober src/native/prober.c src/native/http.c src/native/uring.c

# 3. The runtime dependencies alone.
FROM ${NODE_IMAGE} AS deps
WORKDIR /opt/kube-ipvs
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error

# 4. The image.
FROM ${NODE_IMAGE}
ARG NODE_IMAGE
ARG VERSION
ARG REVISION=unknown
LABEL org.opencontainers.image.title="kube-ipvs" \
      org.opencontainers.image.description="A Kubernetes service proxy that programs IPVS: a drop-in replacement for kube-proxy in IPVS mode" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="docker.io/library/${NODE_IMAGE}"
# The tools kube-ipvs runs (src/apply/): ipvsadm, ipset, iptables (legacy and nft, chosen at
# start by the entrypoint), nft (the nftables rules backend), ip, conntrack, and modprobe. npm, npx, corepack and yarn are not
# needed at run time and go.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ipvsadm ipset iptables nftables iproute2 kmod conntrack \
 && rm -rf /var/lib/apt/lists/* \
 && rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack /opt/yarn-* \
 && rm -f /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack /usr/local/bin/yarn /usr/local/bin/yarnpkg
WORKDIR /opt/kube-ipvs
# --max-semi-space-size=16 (MiB): uncapped, V8 grows the young generation to 2 x 64 MiB at the
# heap size of a 10,000-Service cluster and keeps it: +75 MiB RSS for no measurable gain in sync
# time (make bench runs the daemon side with the same flag).
ENV NODE_ENV=production NODE_OPTIONS="--enable-source-maps --max-semi-space-size=16"
COPY package.json ./
COPY --from=deps /opt/kube-ipvs/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# Where dist/observe/native-prober.js looks for it (../../bin); TCP checks need CAP_NET_RAW (the
# DaemonSet is privileged; without it the helper takes HTTP checks only and TCP ones run in-process).
COPY --from=prober /src/kube-ipvs-prober ./bin/kube-ipvs-prober
COPY image/kube-ipvs.sh /usr/local/bin/kube-ipvs
# Runs as root: it programs the host's kernel (the DaemonSet makes it privileged).
ENTRYPOINT ["/usr/local/bin/kube-ipvs"]
