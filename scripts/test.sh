#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs, builds, type-checks, then runs
# every Jest test against real NATS and Redis (see test/support/global-setup.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "[test] type-checking"
npx tsc -p tsconfig.json
echo "[test] jest"
exec node --expose-gc node_modules/jest/bin/jest.js --runInBand "$@"
