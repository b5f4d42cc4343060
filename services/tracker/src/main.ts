import 'reflect-metadata';
import { runService, TRACKER_QUEUE, TrackerConfigSchema } from '@swarmshare/common';
import { TrackerModule } from './app.module';

/**
 * The cluster-wide tracker. Replicas share the TRACKER_QUEUE queue group and keep all state in
 * Redis, so any number can run; configured only by environment (see TrackerConfigSchema).
 */
runService({
  name: 'tracker',
  configSchema: TrackerConfigSchema,
  module: (config, logger) => TrackerModule.forRoot(config, logger),
  queue: () => TRACKER_QUEUE,
  readyInfo: (_app, config) => ({ peerTtlMs: config.PEER_TTL_MS, pid: process.pid }),
}).catch((err: unknown) => {
  process.stderr.write(`tracker failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
