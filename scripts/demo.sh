#!/usr/bin/env bash
# The main job on a fresh machine: install and build, then start a local swarm (nats-server,
# redis-server, tracker, nodes a and b), share a random file from a, fetch it on b, verify, stop.
# Then the same comparison bench:e2e makes (docs/performance.md), on DEMO_BENCH_SIZE (256MiB), one
# run: share vs sha256sum+cp, fetch -o vs curl from nginx, CLI start-up vs node -e 0.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node cli/dist/main.js demo "$@"
if [ "${DEMO_BENCH_SIZE:-256MiB}" != "0" ]; then
  node bench/e2e.js --size "${DEMO_BENCH_SIZE:-256MiB}" --runs 1 || echo "demo: the comparison (bench/e2e.js) could not run; it needs nginx and curl (docs/performance.md)" >&2
fi
