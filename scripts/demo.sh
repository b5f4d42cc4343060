#!/usr/bin/env bash
# The main job on a fresh machine: install and build, then start a local swarm (nats-server,
# redis-server, tracker, nodes a and b), share a random file from a, fetch it on b, verify, stop.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node cli/dist/main.js demo "$@"
