#!/usr/bin/env bash
# Installs everything a fresh machine needs: npm packages, and nats-server/redis-server from Debian
# packages when they are missing. `--for-tests` also installs the tools only the tests use
# (docker-compose, to resolve docker-compose.yml). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

needs=(nats-server:nats-server redis-server:redis-server fallocate:util-linux)
[ "${1:-}" = "--for-tests" ] && needs+=(docker-compose:docker-compose)
missing=()
for pair in "${needs[@]}"; do
  bin=${pair%%:*} pkg=${pair##*:}
  command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "[setup] installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# npm ci only when node_modules is missing or older than the lock file.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[setup] npm ci"
  # The lock lists every platform's optional packages (e.g. @unrs/resolver-binding-*), so npm ci
  # accepts it everywhere and installs only this platform's; test/setup/fresh-clone.test.ts checks it.
  npm ci --no-audit --no-fund
fi
# The mmap addon is native; make sure it was built (npm 11 may hold back install scripts).
if ! node -e "require('@riaskov/mmap-io')" >/dev/null 2>&1; then
  echo "[setup] building @riaskov/mmap-io"
  npm rebuild @riaskov/mmap-io --foreground-scripts
fi

echo "[setup] building"
npm run build --silent
