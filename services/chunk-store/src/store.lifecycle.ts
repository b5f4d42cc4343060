import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type Redis from 'ioredis';
import type { NatsConnection } from 'nats';
import { type Logger, SERVICE_LOGGER } from '@swarmshare/common';
import { ChunkStoreService } from './chunk-store.service';
import { waitForRedis } from './redis-client';
import { Scrubber } from './scrubber';

export const REDIS = Symbol('REDIS');
export const EVENTS_NATS = Symbol('EVENTS_NATS');

/**
 * Start-up and shutdown in one place, in order: the store is ready (and the service logs "ready")
 * only once Redis is connected and the index is rebuilt; on shutdown the mappings are synced and
 * dropped before the connections close.
 */
@Injectable()
export class StoreLifecycle implements OnModuleInit, OnApplicationShutdown {
  constructor(
    private readonly store: ChunkStoreService,
    private readonly scrubber: Scrubber,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(EVENTS_NATS) private readonly nc: NatsConnection,
    @Inject(SERVICE_LOGGER) private readonly logger: Logger,
  ) {}

  async onModuleInit(): Promise<void> {
    await waitForRedis(this.redis);
    await this.store.start();
    this.scrubber.start();
    // A Redis that restarted empty is noticed right at reconnect, not only by the periodic check.
    this.redis.on('ready', () => {
      this.store.checkIndex().catch((err) => this.logger.warn({ err: (err as Error).message }, 'index check after reconnect failed'));
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.scrubber.stop();
    try {
      this.store.close();
    } catch (err) {
      this.logger.error({ err: (err as Error).message }, 'syncing mappings at shutdown failed');
    }
    await this.nc.drain().catch(() => undefined);
    await this.redis.quit().catch(() => undefined);
    this.logger.info({ event: 'stopped' }, 'chunk-store stopped: mappings synced and released');
  }
}
