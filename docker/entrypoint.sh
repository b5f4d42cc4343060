#!/bin/sh
# Entry point of the Swarmshare image: the first argument says what to run. The app directory is
# the parent of this script's directory (/app in the image; the repo root in a checkout).
set -eu
app=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
what="${1:-help}"
case "$what" in
  tracker|chunk-store|peer-gateway)
    shift
    # --expose-gc: the peer-gateway and chunk-store collect unmapped regions on shutdown.
    exec node --expose-gc "$app/services/$what/dist/main.js" "$@"
    ;;
  cli|swarmshare)
    shift
    exec node "$app/cli/dist/main.js" "$@"
    ;;
  help|-h|--help)
    cat <<'USAGE'
usage: <image> tracker | chunk-store | peer-gateway | cli [swarmshare arguments] | <any command>
  Services read their settings from the environment (see docs/operations.md).
  /healthz, /readyz and /metrics are served on $HTTP_PORT.
USAGE
    ;;
  *)
    exec "$@"
    ;;
esac
