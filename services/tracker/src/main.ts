import 'reflect-metadata';
import { HealthRegistry, ObservabilityLifecycle, runService, TRACKER_QUEUE, TrackerConfigSchema } from '@swarmshare/common';
import { adminGrpcOptions } from './admin/admin-grpc';
import { TrackerModule } from './app.module';

/**
 * The cluster-wide tracker. Replicas share the TRACKER_QUEUE queue group and keep all state in
 * Redis, so any number can run; configured only by environment (see TrackerConfigSchema).
 */
runService({
  name: 'tracker',
  description: "The swarm's registry of peers and files (any number of replicas, one queue group)",
  configSchema: TrackerConfigSchema,
  module: (config, logger) => TrackerModule.forRoot(config, logger),
  queue: () => TRACKER_QUEUE,
  // With GRPC_PORT, a hybrid application: the same module also serves the gRPC admin API.
  extraTransport: (config, logger) => {
    if (config.GRPC_PORT === 0) return undefined;
    // The config schema makes sure all three files are there while GRPC_TLS=on.
    const tls = config.GRPC_TLS === 'on' ? { ca: config.GRPC_TLS_CA!, cert: config.GRPC_TLS_CERT!, key: config.GRPC_TLS_KEY! } : undefined;
    return (app) => adminGrpcOptions(config.GRPC_HOST, config.GRPC_PORT, tls, app.get(HealthRegistry), app.get(ObservabilityLifecycle), logger);
  },
  readyInfo: (_app, config) => ({ peerTtlMs: config.PEER_TTL_MS, pid: process.pid, ...(config.GRPC_PORT > 0 ? { grpcPort: config.GRPC_PORT, grpcHost: config.GRPC_HOST, grpcTls: config.GRPC_TLS } : {}) }),
}).catch((err: unknown) => {
  process.stderr.write(`tracker failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
