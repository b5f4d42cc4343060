import { mkdirSync, openSync, readFileSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import Redis from 'ioredis';
import { startRedisServer } from '../../../test/support/infra';
import { RedisKeys } from '../src/redis-keys';
import { CHUNK, chunkOf, content, failsWith, Harness, manifestFor, memoryLogger, sleep, uniqueNodeId, writeChunk } from './support';

/** The disk is the truth: the Redis index is rebuilt from it at start-up and whenever Redis loses it. */
describe('index rebuild from disk', () => {
  const h = new Harness();
  beforeAll(() => h.setup());
  afterAll(() => h.teardown());

  async function populate(nodeId: string, dataDir: string) {
    const store = await h.store({ nodeId, dataDir });
    const full = content(2 * CHUNK + 10, 21);
    const part = content(3 * CHUNK, 22);
    const mf = manifestFor('full.bin', full);
    const mp = manifestFor('part.bin', part);
    const me = manifestFor('empty.bin', Buffer.alloc(0));
    for (const m of [mf, mp, me]) await store.createFile(m);
    for (let i = 0; i < 3; i++) await writeChunk(store, mf.fileId, i, chunkOf(full, i));
    await writeChunk(store, mp.fileId, 2, chunkOf(part, 2));
    return { store, mf, mp, me };
  }

  test('a new instance over the same data dir and a FLUSHALLed Redis lists the same files and bitfields, without re-hashing', async () => {
    const nodeId = uniqueNodeId();
    const dataDir = h.dir();
    const { store, mf, mp, me } = await populate(nodeId, dataDir);
    const files = await store.files();
    const haves = await Promise.all([mf, mp, me].map((m) => store.have(m.fileId)));
    store.close();
    await h.redis.flushall();

    // Zero the stored chunks' bytes: a rebuild that re-hashed would now drop them.
    const dataPath = join(dataDir, 'files', mf.fileId, 'data');
    writeFileSync(dataPath, Buffer.alloc(mf.size));

    const { logger, lines } = memoryLogger();
    const again = await h.store({ nodeId, dataDir, logger });
    expect(await again.files()).toEqual(files);
    expect(await Promise.all([mf, mp, me].map((m) => again.have(m.fileId)))).toEqual(haves);
    expect(haves[0].present).toBe(3);
    expect(haves[1].present).toBe(1);
    expect(await again.manifest(mp.fileId)).toEqual(mp);
    expect(lines).toContainEqual(expect.objectContaining({ event: 'index-rebuilt', reason: 'start-up', files: 3, skipped: 0 }));
    // The missing chunks of the partial file can still be downloaded.
    expect(await writeChunk(again, mp.fileId, 0, chunkOf(content(3 * CHUNK, 22), 0))).toMatchObject({ available: true });
  });

  test('corrupt records are logged and skipped; the good ones are indexed', async () => {
    const nodeId = uniqueNodeId();
    const dataDir = h.dir();
    const { store, mf, mp } = await populate(nodeId, dataDir);
    store.close();
    const root = join(dataDir, 'files');
    // 1) manifest that is not JSON
    writeFileSync(join(root, mp.fileId, 'manifest.json'), '{"fileId": tru');
    // 2) a manifest whose content does not hash to its id
    const other = manifestFor('other.bin', content(CHUNK, 30));
    const forged = { ...other, hashes: ['11'.repeat(32)] };
    mkdirSync(join(root, other.fileId));
    writeFileSync(join(root, other.fileId, 'manifest.json'), JSON.stringify(forged));
    // 3) a directory that is not a file id, and 4) a create that died before its manifest
    mkdirSync(join(root, 'not-a-file-id'));
    mkdirSync(join(root, 'cd'.repeat(32)));
    // 5) a bitmap of the wrong length
    const third = manifestFor('third.bin', content(CHUNK, 31));
    mkdirSync(join(root, third.fileId));
    writeFileSync(join(root, third.fileId, 'manifest.json'), JSON.stringify(third));
    writeFileSync(join(root, third.fileId, 'bitmap'), Buffer.alloc(5));
    writeFileSync(join(root, third.fileId, 'data'), Buffer.alloc(CHUNK));

    const { logger, lines } = memoryLogger();
    const again = await h.store({ nodeId, dataDir, logger });
    const names = (await again.files()).map((f) => f.name).sort();
    expect(names).toEqual(['empty.bin', 'full.bin']);
    const corrupt = lines.filter((l) => l.msg === 'skipping corrupt file record').map((l) => l.fileId);
    expect(corrupt.sort()).toEqual([mp.fileId, other.fileId, third.fileId, 'not-a-file-id'].sort());
    expect(lines).toContainEqual(expect.objectContaining({ event: 'index-rebuilt', files: 2, skipped: 5 }));
    expect((await again.have(mf.fileId)).present).toBe(3);
    await failsWith(again.have(mp.fileId), 'NOT_FOUND');
  });

  test('Redis losing its data while running: lookups fall back to disk and the index comes back', async () => {
    const nodeId = uniqueNodeId();
    const keys = new RedisKeys(nodeId);
    const { store, mf, mp } = await populate(nodeId, h.dir());
    const lease = await store.leaseChunk(mp.fileId, 0, 'write');
    await h.redis.flushall();

    // A lookup miss is answered from the disk record and triggers a re-index.
    expect((await store.have(mf.fileId)).present).toBe(3);
    expect((await h.redis.smembers(keys.files())).sort()).toEqual((await store.files()).map((f) => f.fileId).sort());
    expect((await store.files()).length).toBe(3);
    // Leases and locks lived only in Redis: that writer must start over, and can.
    await failsWith(store.chunkClose(lease.leaseId, CHUNK), 'LEASE_UNKNOWN');
    expect(await writeChunk(store, mp.fileId, 0, chunkOf(content(3 * CHUNK, 22), 0))).toMatchObject({ available: true });
    expect((await store.have(mp.fileId)).present).toBe(2);
  });

  test('a write lease right after Redis lost its data (file known in memory) re-indexes from disk and still refuses present chunks', async () => {
    const nodeId = uniqueNodeId();
    const keys = new RedisKeys(nodeId);
    const { store, mp } = await populate(nodeId, h.dir()); // mp's summary and hashes are cached now
    await h.redis.flushall();
    const lease = await store.leaseChunk(mp.fileId, 0, 'write');
    expect(lease).toMatchObject({ fileId: mp.fileId, index: 0, mode: 'write' });
    expect(await h.redis.sismember(keys.files(), mp.fileId)).toBe(1);
    await failsWith(store.leaseChunk(mp.fileId, 2, 'write'), 'CONFLICT'); // present on disk before the flush
    await failsWith(store.leaseChunk(mp.fileId, 0, 'write'), 'LOCKED');
    expect(await writeChunk(store, mp.fileId, 1, chunkOf(content(3 * CHUNK, 22), 1))).toMatchObject({ available: true });
    expect((await store.have(mp.fileId)).present).toBe(2);
  });

  test('creating a file again after Redis lost its data is idempotent (the disk record is found)', async () => {
    const nodeId = uniqueNodeId();
    const { store, mf, mp } = await populate(nodeId, h.dir());
    await h.redis.flushall();
    expect(await store.createFile(mp)).toMatchObject({ fileId: mp.fileId, chunksPresent: 1, state: 'partial' });
    await h.redis.flushall();
    const again = await store.createFile(manifestFor('new.bin', content(CHUNK, 99)));
    expect(again.state).toBe('partial');
    expect((await store.files()).map((f) => f.name).sort()).toEqual(['empty.bin', 'full.bin', 'new.bin', 'part.bin']);
    expect((await store.have(mf.fileId)).present).toBe(3);
  });

  test('the periodic check notices a FLUSHALL without any request arriving', async () => {
    const nodeId = uniqueNodeId();
    const keys = new RedisKeys(nodeId);
    const dataDir = h.dir();
    const { store } = await populate(nodeId, dataDir);
    store.close();
    const watched = await h.store({ nodeId, dataDir, indexCheckIntervalMs: 100 });
    await h.redis.flushall();
    await waitFor(async () => ((await h.redis.get(keys.indexed())) ?? '').startsWith('indexed '));
    expect(await h.redis.scard(keys.files())).toBe(3);
    watched.close();
  });

  test('a Redis restarted without persistence is re-indexed once it is back', async () => {
    const own = await startRedisServer();
    const redis = new Redis(own.url, { maxRetriesPerRequest: 3, retryStrategy: () => 100 });
    redis.on('error', () => undefined);
    const nodeId = uniqueNodeId();
    const keys = new RedisKeys(nodeId);
    try {
      const store = await h.store({ nodeId, redis, indexCheckIntervalMs: 200 });
      const data = content(2 * CHUNK, 40);
      const m = manifestFor('restart.bin', data);
      await store.createFile(m);
      await writeChunk(store, m.fileId, 1, chunkOf(data, 1));
      await own.stop();
      const back = await startRedisServer(own.port);
      own.stop = back.stop;
      await waitFor(async () => redis.status === 'ready' && ((await redis.get(keys.indexed())) ?? '').startsWith('indexed '));
      expect(await redis.smembers(keys.files())).toEqual([m.fileId]);
      expect((await store.have(m.fileId)).present).toBe(1);
    } finally {
      redis.disconnect();
      await own.stop();
    }
  });

  test('a bit is persisted in the on-disk bitmap before the close returns', async () => {
    const store = await h.store();
    const data = content(9 * CHUNK, 50);
    const m = manifestFor('bits.bin', data);
    await store.createFile(m);
    const lease = await store.leaseChunk(m.fileId, 8, 'write');
    // Act as the co-located gateway: write the region with plain file I/O.
    const fd = openSync(lease.path, 'r+');
    writeSync(fd, chunkOf(data, 8), 0, lease.length, lease.offset);
    closeSync(fd);
    await store.chunkClose(lease.leaseId, lease.length);
    expect([...readFileSync(join(lease.path, '..', 'bitmap'))]).toEqual([0, 0b1000_0000]);
  });
});

async function waitFor(pred: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await pred()) return;
    } catch {
      // Redis may still be reconnecting.
    }
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(50);
  }
}
