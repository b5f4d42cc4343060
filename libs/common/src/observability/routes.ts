/**
 * The HTTP routes every service serves on HTTP_PORT (when it is > 0). docker-compose.yml, the
 * Dockerfile HEALTHCHECK and the Kubernetes probes use these paths; test/deploy checks that they do.
 */
export const OBSERVABILITY_ROUTES = {
  /** Liveness: the process is up and its event loop answers. */
  liveness: '/healthz',
  /** Readiness: every registered check passes (NATS connected, Redis answering, ...). */
  readiness: '/readyz',
  /** Prometheus text format. */
  metrics: '/metrics',
} as const;

export type ObservabilityRoute = (typeof OBSERVABILITY_ROUTES)[keyof typeof OBSERVABILITY_ROUTES];
