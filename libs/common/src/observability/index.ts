/**
 * Health and metrics for every service: see README "Deploy" and docs/operations.md.
 *
 * runService (bootstrap.ts) wires all of this; services only inject what they need:
 *
 *   import { HealthRegistry, Metrics } from '@swarmshare/common';
 *
 *   @Injectable()
 *   export class ChunkStoreService {
 *     constructor(health: HealthRegistry, private readonly metrics: Metrics) {
 *       health.register('index', () => this.indexLoaded || Promise.reject(new Error('index not rebuilt yet')));
 *     }
 *     onVerified() { this.metrics.chunksVerified.inc(); }
 *   }
 *
 * Defaults registered by runService (a service's own check of the same name replaces them):
 *   nats               the microservice's NATS connection is up (always)
 *   redis              PING over a small dedicated connection (when the config has REDIS_URL)
 *   data-dir-writable  a probe file can be written and synced in DATA_DIR (when the config has DATA_DIR)
 *   peer-port          something listens on PEER_PORT (when the config has PEER_PORT > 0)
 */
export * from './routes';
export * from './health-registry';
export * from './metrics';
export * from './nats-metrics.interceptor';
export * from './default-checks';
export * from './http-server';
export * from './observability.module';
export * from './nats-status';
