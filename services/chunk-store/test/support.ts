import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { connect, type NatsConnection } from 'nats';
import pino from 'pino';
import { computeFileId, EventSubjects, type Logger, type Manifest, MIN_CHUNK_SIZE, sha256Hex } from '@swarmshare/common';
import { createChunkStore, type ChunkStoreWiring } from '../src/chunk-store.factory';
import type { ChunkStoreService } from '../src/chunk-store.service';
import { NatsEventPublisher } from '../src/event-publisher';

export const CHUNK = MIN_CHUNK_SIZE;

/** A node id no other test uses, so tests sharing one Redis and NATS never collide. */
export function uniqueNodeId(prefix = 'cs'): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}

export function tmpDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'ss-chunk-store-'));
}

/** Deterministic pseudo-random content of `size` bytes. */
export function content(size: number, seed = 1): Buffer {
  const b = Buffer.alloc(size);
  let x = seed * 2654435761 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

export function manifestFor(name: string, data: Buffer, chunkSize = CHUNK): Manifest {
  const hashes: string[] = [];
  for (let off = 0; off < data.length; off += chunkSize) hashes.push(sha256Hex(data.subarray(off, off + chunkSize)));
  return { fileId: computeFileId(data.length, chunkSize, hashes), name, size: data.length, chunkSize, hashes };
}

export function chunkOf(data: Buffer, index: number, chunkSize = CHUNK): Buffer {
  return data.subarray(index * chunkSize, (index + 1) * chunkSize);
}

/** A pino logger whose lines the test can read. */
export function memoryLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  return { logger, lines };
}

/** Events from the real NATS, as the tracker would see them. */
export class EventLog {
  readonly completed: Array<{ nodeId: string; fileId: string }> = [];

  constructor(private readonly nc: NatsConnection) {
    this.nc.subscribe(EventSubjects.fileCompleted, { callback: (_e, m) => this.completed.push(JSON.parse(Buffer.from(m.data).toString())) });
  }

  /**
   * Wait until `fileId` has completed `count` times or `timeoutMs` passed (file.completed goes to
   * JetStream asynchronously, after the stream is ensured), then a little longer to catch extras.
   */
  async completedOf(fileId: string, count = 1, timeoutMs = 5000): Promise<Array<{ nodeId: string; fileId: string }>> {
    const of = () => this.completed.filter((e) => e.fileId === fileId);
    const deadline = Date.now() + timeoutMs;
    while (of().length < count && Date.now() < deadline) await sleep(20);
    await sleep(200);
    return of();
  }
}

/** Real Redis and NATS from the Jest global setup, a tmp data dir, and a store per test. */
export class Harness {
  redis!: Redis;
  nc!: NatsConnection;
  events!: EventLog;
  readonly dirs: string[] = [];
  readonly stores: ChunkStoreService[] = [];

  async setup(): Promise<void> {
    this.redis = new Redis(process.env.REDIS_URL!, { maxRetriesPerRequest: 3 });
    this.nc = await connect({ servers: process.env.NATS_URL! });
    this.events = new EventLog(this.nc);
  }

  async store(overrides: Partial<ChunkStoreWiring> = {}): Promise<ChunkStoreService> {
    const dataDir = overrides.dataDir ?? this.dir();
    const store = createChunkStore({
      nodeId: uniqueNodeId(),
      capacity: 0,
      leaseTtlMs: 30_000,
      redis: this.redis,
      events: new NatsEventPublisher(this.nc),
      logger: pino({ level: 'silent' }),
      ...overrides,
      dataDir,
    });
    await store.start();
    this.stores.push(store);
    return store;
  }

  dir(): string {
    const d = tmpDataDir();
    this.dirs.push(d);
    return d;
  }

  async teardown(): Promise<void> {
    for (const s of this.stores) s.close();
    await this.nc?.drain();
    this.redis?.disconnect();
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
  }
}

/** Write a chunk through a lease and close it, as a downloader would. */
export async function writeChunk(store: ChunkStoreService, fileId: string, index: number, bytes: Buffer) {
  const { lease, buffer } = await store.chunkLocation(fileId, index, 'write');
  bytes.copy(buffer);
  return store.chunkClose(lease.leaseId, bytes.length);
}

export function readFileRegion(path: string, offset: number, length: number): Buffer {
  return readFileSync(path).subarray(offset, offset + length);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Await a promise expected to fail with a SwarmError of `code`; returns its message. */
export async function failsWith(p: Promise<unknown>, code: string): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect((err as { code?: string }).code).toBe(code);
    return (err as Error).message;
  }
  throw new Error(`expected ${code}, but the call succeeded`);
}
