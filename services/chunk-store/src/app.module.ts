import { type DynamicModule, Module } from '@nestjs/common';
import type Redis from 'ioredis';
import type { NatsConnection } from 'nats';
import { type ChunkStoreConfig, connectNats, type Logger, Metrics, SERVICE_CONFIG, SERVICE_LOGGER } from '@swarmshare/common';
import { createChunkStore } from './chunk-store.factory';
import { ChunkStoreService } from './chunk-store.service';
import { FileImports } from './file-imports';
import { NatsEventPublisher } from './event-publisher';
import { createRedisClient } from './redis-client';
import { Scrubber } from './scrubber';
import { createStoreController } from './store.controller';
import { EVENTS_NATS, REDIS, StoreLifecycle } from './store.lifecycle';

@Module({})
export class AppModule {
  static forRoot(config: ChunkStoreConfig, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      controllers: [createStoreController(config.NODE_ID)],
      providers: [
        { provide: SERVICE_CONFIG, useValue: config },
        { provide: SERVICE_LOGGER, useValue: logger },
        { provide: REDIS, useFactory: () => createRedisClient(config.REDIS_URL, logger, { caFile: config.REDIS_CA_FILE, commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS }) },
        // Events go out on a plain connection of our own, as plain JSON any subscriber can read.
        { provide: EVENTS_NATS, useFactory: () => connectNats(config.NATS_URL, `chunk-store-${config.NODE_ID}-events`, true, config.NATS_CA_FILE) },
        {
          provide: ChunkStoreService,
          inject: [REDIS, EVENTS_NATS],
          useFactory: (redis: Redis, nc: NatsConnection) =>
            createChunkStore({
              nodeId: config.NODE_ID,
              dataDir: config.DATA_DIR,
              capacity: config.STORE_CAPACITY,
              leaseTtlMs: config.LEASE_TTL_MS,
              writerTimeoutMs: config.WRITER_TIMEOUT_MS,
              pagedCreatesMax: config.PAGED_CREATES_MAX,
              pagedCreateTimeoutMs: config.PAGED_CREATE_TIMEOUT_MS,
              redis,
              events: new NatsEventPublisher(nc, logger),
              logger,
            }),
        },
        {
          provide: Scrubber,
          inject: [ChunkStoreService, Metrics],
          useFactory: (store: ChunkStoreService, metrics: Metrics) => new Scrubber(store, { bytesPerSec: config.SCRUB_BYTES_PER_SEC }, logger, metrics),
        },
        {
          provide: FileImports,
          inject: [ChunkStoreService],
          useFactory: async (store: ChunkStoreService) => {
            const imports = new FileImports(config.DATA_DIR, store, logger);
            await imports.start();
            return imports;
          },
        },
        StoreLifecycle,
      ],
    };
  }
}
