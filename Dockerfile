# syntax=docker/dockerfile:1
#
# One image for the three services and the CLI, selected by the first argument:
#
#   docker build -t swarmshare:local .
#   docker run swarmshare:local tracker          # node services/tracker/dist/main.js
#   docker run swarmshare:local chunk-store      # node services/chunk-store/dist/main.js
#   docker run swarmshare:local peer-gateway     # node services/peer-gateway/dist/main.js
#   docker run swarmshare:local cli ls           # the swarmshare CLI
#
# Services are configured by environment only (docs/operations.md). /healthz, /readyz and /metrics
# are served on HTTP_PORT (8080 unless set otherwise); the tracker's gRPC admin API on GRPC_PORT when set.

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: all dependencies (the native mmap addon needs python3/make/g++), compile every workspace
FROM ${NODE_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY libs/common/package.json libs/common/
COPY services/chunk-store/package.json services/chunk-store/
COPY services/tracker/package.json services/tracker/
COPY services/peer-gateway/package.json services/peer-gateway/
COPY cli/package.json cli/
# npm ci, or npm install where npm ci refuses the lock for lacking other platforms' optional packages
RUN npm ci --no-audit --no-fund || npm install --no-audit --no-fund
COPY tsconfig.base.json ./
COPY libs/common libs/common
COPY services services
COPY cli cli
RUN npm run build

# ---- prod-deps: production dependencies only, the native addon compiled here too
FROM ${NODE_IMAGE} AS prod-deps
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY libs/common/package.json libs/common/
COPY services/chunk-store/package.json services/chunk-store/
COPY services/tracker/package.json services/tracker/
COPY services/peer-gateway/package.json services/peer-gateway/
COPY cli/package.json cli/
RUN (npm ci --omit=dev --no-audit --no-fund || npm install --omit=dev --no-audit --no-fund) \
 && node -e "require('@riaskov/mmap-io')" \
 && npm cache clean --force

# ---- runtime: node, tini (PID 1 that forwards SIGTERM), util-linux (fallocate), no compilers, non-root
FROM ${NODE_IMAGE} AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini util-linux \
 && rm -rf /var/lib/apt/lists/* \
 && command -v fallocate
ENV NODE_ENV=production \
    HTTP_PORT=8080
WORKDIR /app
COPY --from=prod-deps /app/package.json /app/package-lock.json ./
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/libs/common/package.json libs/common/
COPY --from=build /app/libs/common/dist libs/common/dist
# The admin API's .proto, loaded at run time by the tracker's gRPC server (and served by reflection).
COPY --from=build /app/libs/common/proto libs/common/proto
COPY --from=build /app/services/tracker/package.json services/tracker/
COPY --from=build /app/services/tracker/dist services/tracker/dist
COPY --from=build /app/services/chunk-store/package.json services/chunk-store/
COPY --from=build /app/services/chunk-store/dist services/chunk-store/dist
COPY --from=build /app/services/peer-gateway/package.json services/peer-gateway/
COPY --from=build /app/services/peer-gateway/dist services/peer-gateway/dist
COPY --from=build /app/cli/package.json cli/
COPY --from=build /app/cli/dist cli/dist
COPY docker/entrypoint.sh docker/healthcheck.js docker/
# /data: a node's data volume (chunk-store + peer-gateway); /out: where `cli fetch -o` writes; /pki: the peer TLS volume of compose.
# Named volumes mounted there start owned by the runtime user.
RUN chmod 0755 docker/entrypoint.sh \
 && mkdir -p /data /out /pki \
 && chown 1000:1000 /data /out /pki
USER 1000:1000
EXPOSE 7881 8080 9090
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "/app/docker/healthcheck.js", "/healthz"]
ENTRYPOINT ["/usr/bin/tini", "--", "/app/docker/entrypoint.sh"]
CMD ["help"]
