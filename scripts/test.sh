#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs, builds, type-checks, then runs
# every Jest test against real NATS and Redis (see test/support/global-setup.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --for-tests
echo "[test] type-checking"
npx tsc -p tsconfig.json
echo "[test] jest"
results=$(mktemp)
status=0
# --forceExit: a failed test can leave a child process holding a handle, and a Jest that never exits
# would hold CI until its time limit; the global teardown still runs first.
node --expose-gc node_modules/jest/bin/jest.js --runInBand --forceExit --json --outputFile="$results" "$@" || status=$?
# One plain closing line that any CI can read: "tests: N passed, N failed".
node -e 'const r = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8")); console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed` + (r.numPendingTests ? `, ${r.numPendingTests} skipped` : ""))' "$results" || true
rm -f "$results"
exit $status
