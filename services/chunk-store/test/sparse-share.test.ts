import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Bitfield, type Manifest } from '@swarmshare/common';
import type { ChunkStoreService } from '../src/chunk-store.service';
import { CHUNK, chunkOf, content, failsWith, Harness, manifestFor, readFileRegion, writeChunk } from './support';

/** Bytes of disk blocks the file really uses (st_blocks counts 512-byte units). */
const onDisk = (path: string) => statSync(path).blocks * 512;
const shareOf = (m: Manifest, indexes: number[]) => {
  const b = new Bitfield(m.hashes.length);
  for (const i of indexes) b.set(i);
  return b.toBase64();
};

/** Sparse partial replicas (issue 14): a node holding a share allocates and counts only its share. */
describe('a file held as a share: sparse data file, allocation per chunk run (real Redis, real files)', () => {
  const h = new Harness();
  beforeAll(() => h.setup());
  afterAll(() => h.teardown());

  async function dataPath(store: ChunkStoreService, fileId: string): Promise<string> {
    return (await store.layout(fileId)).path;
  }

  test('only the share has blocks; stats count the share; a chunk outside it is allocated at its write lease; the whole file on a plain create', async () => {
    const dataDir = h.dir();
    const store = await h.store({ dataDir });
    const data = content(8 * CHUNK, 21);
    const m = manifestFor('share.bin', data);
    // Chunks 1, 2, 3 (one run) and 6: two fallocate ranges, 4 chunks.
    const def = await store.createFile(m, shareOf(m, [1, 2, 3, 6]));
    expect(def).toMatchObject({ chunkCount: 8, chunksPresent: 0, state: 'partial' });
    const path = await dataPath(store, m.fileId);
    expect(statSync(path).size).toBe(8 * CHUNK); // full length, so any chunk maps inside the file
    expect(onDisk(path)).toBeGreaterThanOrEqual(4 * CHUNK);
    expect(onDisk(path)).toBeLessThanOrEqual(5 * CHUNK);
    expect(await store.stats()).toMatchObject({ used: 4 * CHUNK, files: 1 });
    expect(existsSync(join(dirname(path), 'allocated'))).toBe(true);

    // A chunk of the share is written as ever.
    expect(await writeChunk(store, m.fileId, 2, chunkOf(data, 2))).toMatchObject({ available: true });
    // A chunk outside it gets its blocks before its write lease is out.
    expect(await writeChunk(store, m.fileId, 0, chunkOf(data, 0))).toMatchObject({ available: true });
    expect(await store.stats()).toMatchObject({ used: 5 * CHUNK });
    expect(onDisk(path)).toBeGreaterThanOrEqual(5 * CHUNK);
    expect(onDisk(path)).toBeLessThanOrEqual(6 * CHUNK);

    // Another share offered for the same file adds its chunks (7); one already held adds nothing.
    await store.createFile(m, shareOf(m, [2, 7]));
    expect(await store.stats()).toMatchObject({ used: 6 * CHUNK });

    // The allocation is on disk: a store started on the same data dir (index rebuilt) counts the same.
    store.close();
    const again = await h.store({ dataDir });
    expect(await again.stats()).toMatchObject({ used: 6 * CHUNK, files: 1 });

    // Fetching the whole file: a plain create allocates the rest first, keeping what is there.
    await again.createFile(m);
    expect(await again.stats()).toMatchObject({ used: 8 * CHUNK });
    expect(onDisk(path)).toBeGreaterThanOrEqual(8 * CHUNK);
    expect(existsSync(join(dirname(path), 'allocated'))).toBe(false);
    expect(readFileRegion(path, 2 * CHUNK, CHUNK)).toEqual(chunkOf(data, 2));
    for (const i of [1, 3, 4, 5, 6, 7]) await writeChunk(again, m.fileId, i, chunkOf(data, i));
    expect((await again.files())[0]).toMatchObject({ state: 'complete', chunksPresent: 8 });
  });

  test('quota: a share is checked by its size, and growing it past STORE_CAPACITY is NO_SPACE before any byte moves', async () => {
    const store = await h.store({ capacity: 4 * CHUNK });
    const data = content(6 * CHUNK, 22);
    const m = manifestFor('quota.bin', data);
    // The whole file (6 chunks) would not fit, its share (3) does.
    expect(await failsWith(store.createFile(m), 'NO_SPACE')).toContain('quota.bin');
    await store.createFile(m, shareOf(m, [0, 1, 2]));
    expect(await store.stats()).toMatchObject({ capacity: 4 * CHUNK, used: 3 * CHUNK, free: CHUNK });
    const path = await dataPath(store, m.fileId);
    const before = onDisk(path);

    // Fetching the whole file needs 3 more chunks: refused, nothing allocated.
    expect(await failsWith(store.createFile(m), 'NO_SPACE')).toMatch(/3 more chunk\(s\)/);
    expect(onDisk(path)).toBe(before);
    expect(await store.stats()).toMatchObject({ used: 3 * CHUNK });

    // One chunk outside the share still fits, and is allocated at its lease; the next does not, and
    // gets no lease (so nothing can be written into its hole).
    await writeChunk(store, m.fileId, 4, chunkOf(data, 4));
    expect(await store.stats()).toMatchObject({ used: 4 * CHUNK, free: 0 });
    await failsWith(store.leaseChunk(m.fileId, 5, 'write'), 'NO_SPACE');
    expect(await store.stats()).toMatchObject({ used: 4 * CHUNK });

    // Deleting it frees (and reports) what it had allocated.
    expect(await store.deleteFile(m.fileId)).toMatchObject({ deleted: true, bytes: 4 * CHUNK });
    expect(await store.stats()).toMatchObject({ used: 0, free: 4 * CHUNK });
  });

  test('a share that is not a bitfield of the file is BAD_REQUEST', async () => {
    const store = await h.store();
    const m = manifestFor('bad.bin', content(3 * CHUNK, 23));
    await failsWith(store.createFile(m, Buffer.from([0xff, 0xff]).toString('base64')), 'BAD_REQUEST');
    await failsWith(store.createFile(m, Buffer.from([0xff]).toString('base64')), 'BAD_REQUEST'); // bits past its 3 chunks
    expect(await store.files()).toEqual([]);
  });
});
