import type Redis from 'ioredis';
import { DEFAULT_WINDOW_BYTES, type Logger, MappingRegistry, RegionHasher } from '@swarmshare/common';
import { ChunkIndexRepository } from './chunk-index.repository';
import { type ChunkStoreOptions, ChunkStoreService } from './chunk-store.service';
import type { EventPublisher } from './event-publisher';
import { FileRecordRepository } from './file-record.repository';
import { IndexRebuilder } from './index-rebuilder';
import { KeyedMutex } from './keyed-mutex';
import { LeaseRepository } from './lease.repository';

export interface ChunkStoreWiring extends ChunkStoreOptions {
  dataDir: string;
  redis: Redis;
  events: EventPublisher;
  logger: Logger;
  /** Largest single mapping; a file bigger than this is mapped in windows of whole chunks. */
  mapWindowBytes?: number;
  /** The clock (tests inject one). */
  now?: () => number;
}

/** Wire the service to its real repositories (used by the Nest module and by the tests). */
export function createChunkStore(w: ChunkStoreWiring): ChunkStoreService {
  const disk = new FileRecordRepository(w.dataDir);
  const index = new ChunkIndexRepository(w.redis, w.nodeId);
  const fileLocks = new KeyedMutex();
  const rebuilder = new IndexRebuilder(disk, index, fileLocks, w.logger);
  return new ChunkStoreService(w, {
    disk,
    index,
    leases: new LeaseRepository(w.redis, w.nodeId),
    maps: new MappingRegistry(w.mapWindowBytes ?? DEFAULT_WINDOW_BYTES),
    events: w.events,
    rebuilder,
    fileLocks,
    hasher: new RegionHasher(),
    logger: w.logger,
    now: w.now,
  });
}
