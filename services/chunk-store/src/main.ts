import 'reflect-metadata';
import { ChunkStoreConfigSchema, runService } from '@swarmshare/common';
import { AppModule } from './app.module';
import { ChunkStoreService } from './chunk-store.service';

runService({
  name: 'chunk-store',
  description: "A node's chunk store: memory-mapped chunk files and their index",
  configSchema: ChunkStoreConfigSchema,
  module: (config, logger) => AppModule.forRoot(config, logger),
  readyInfo: async (app, config) => {
    const stats = await app.get(ChunkStoreService).stats();
    return { nodeId: config.NODE_ID, dataDir: config.DATA_DIR, files: stats.files, capacity: stats.capacity, free: stats.free };
  },
}).catch((err: unknown) => {
  process.stderr.write(`chunk-store failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
