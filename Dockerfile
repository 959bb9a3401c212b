# lbdns container image: build with the dev dependencies, run with production ones only.
# The same steps run without Docker in deploy/build-image-contents.sh, which CI tests.

# Node 24 LTS, the major the project pins (package.json engines, .nvmrc, the node devDependency).
FROM node:24.21.0-bookworm-slim AS build
WORKDIR /app
# python3, make and g++ build the native addon (native/: batched UDP I/O, the release of freed
# memory) in npm ci's install step. Node-local mode puts its address on the node with `ip` (Node
# has no netlink): busybox's, static, copied alone under the name ip, so it runs only as ip.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ busybox-static && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json binding.gyp ./
COPY native ./native
COPY scripts/build-addon.js ./scripts/build-addon.js
RUN npm ci --no-fund --no-audit
COPY tsconfig.json ./
COPY scripts/build.js ./scripts/build.js
COPY bin ./bin
COPY src ./src
COPY config ./config
RUN npm run build && npm prune --omit=dev --no-fund --no-audit

# No shell, no package manager at run time (ip is busybox under that one name, no sh link); runs as the distroless "nonroot" user (65532).
FROM gcr.io/distroless/nodejs24-debian12:nonroot
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/bin ./bin
COPY --from=build /app/dist ./dist
# dist/ is lbdns bundled (scripts/build.js); node_modules stays for what it loads at run time (the
# addon's loader, optional dependencies). The addon where lbdns looks: the package root's build/Release.
COPY --from=build /app/build/Release/lbdns_native.node ./build/Release/lbdns_native.node
COPY --from=build /app/config/lbdns.yaml ./config/lbdns.yaml
COPY --from=build /bin/busybox /usr/bin/ip
USER 65532:65532
EXPOSE 53/udp 53/tcp 8080/tcp
# Port 53 as non-root: the pod grants NET_BIND_SERVICE and sets net.ipv4.ip_unprivileged_port_start
# (see deploy/base/deployment.yaml). Kubernetes probes do the health checks, so no HEALTHCHECK.
# --max-semi-space-size=2: V8's young generation grows to 64 MB while the first sync of a large
# cluster allocates, and keeps it; capped at 4 MB semi-spaces, lbdns on 100,000 endpoints settles
# at 198 MiB RSS instead of 331 with one serving thread, answering as fast (dnsperf: 81,900 vs
# 79,100 queries/s). At 2 MB, right after saturating load with 2 workers: 165 MiB instead of 170,
# as fast (bench:scale), and ready on 100,000 endpoints from the API in 2.3 s, settled at 140 MiB
# (bench:kubernetes); a query leaves under 100 bytes of garbage, so scavenges stay cheap.
# `npm run bench:startup` and bench:kubernetes run lbdns with these flags.
# glibc gives threads that allocate at once arenas of their own (up to 8 per core), and what one
# frees stays resident there. Two arenas for lbdns's threads: on 100,000 endpoints RSS settles at
# 156 MiB with one serving thread instead of 165, and at 196 instead of 215 with two workers, as
# fast. The benches that measure memory and startup run lbdns with this ENV too (as-image.ts).
# MALLOC_MMAP_THRESHOLD_: allocations of 64 KiB and more get pages of their own, given back when
# freed. Node's Buffer pool takes 64 KiB slabs from malloc, one after another under load (each
# response is cut from one); in glibc's heaps their churn left 9-12 MB free but resident, and a
# fixed threshold also stops glibc from raising it after the objects file's large buffers are
# freed. At 10,000 Services with 2 workers: malloc's heaps 18-21 MB instead of 34-37, settled RSS
# 125 MiB instead of 130.
ENV MALLOC_ARENA_MAX=2
ENV MALLOC_MMAP_THRESHOLD_=65536
ENTRYPOINT ["/nodejs/bin/node", "--max-semi-space-size=2", "/app/bin/lbdns.js"]
CMD ["--config", "/etc/lbdns/lbdns.yaml", "--listen", "0.0.0.0:53", "--listen", "[::]:53", "--ops-listen", "0.0.0.0:8080"]
