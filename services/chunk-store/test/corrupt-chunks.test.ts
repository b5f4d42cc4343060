import { openSync, readFileSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { Bitfield, storeSubjects } from '@swarmshare/common';
import { Scrubber } from '../src/scrubber';
import { CHUNK, chunkOf, content, failsWith, Harness, manifestFor, sleep, writeChunk } from './support';

/** Flip `n` bytes of chunk `index` in the store's data file, as a failing disk would. */
function corrupt(path: string, index: number, n = 16): void {
  const fd = openSync(path, 'r+');
  try {
    const at = index * CHUNK + 100;
    const bytes = readFileSync(path).subarray(at, at + n);
    writeSync(fd, Buffer.from(bytes.map((b) => b ^ 0xff)), 0, n, at);
  } finally {
    closeSync(fd);
  }
}

/** Corrupt chunks on disk: found by a re-hash (asked for, or the scrub), marked missing, written again. */
describe('corrupt chunks on disk (real Redis, NATS and files)', () => {
  const h = new Harness();
  beforeAll(() => h.setup());
  afterAll(() => h.teardown());

  async function fullFile(chunks = 4, seed = 5) {
    const store = await h.store();
    const data = content(chunks * CHUNK, seed);
    const m = manifestFor('scrubbed.bin', data);
    await store.createFile(m);
    for (let i = 0; i < chunks; i++) await writeChunk(store, m.fileId, i, chunkOf(data, i));
    const path = (await store.layout(m.fileId)).path;
    return { store, data, m, path };
  }

  test('verify finds a flipped chunk, marks it missing on disk and in the index, and lets it be written again', async () => {
    const { store, data, m, path } = await fullFile();
    corrupt(path, 2);

    expect(await store.verifyChunks(m.fileId, [1, 2])).toEqual({ fileId: m.fileId, checked: 2, corrupt: [2] });
    const have = await store.have(m.fileId);
    expect(Bitfield.fromBase64(4, have.bitfield).indexes()).toEqual([0, 1, 3]);
    expect(new Bitfield(4, readFileSync(join(path, '..', 'bitmap'))).indexes()).toEqual([0, 1, 3]);
    expect((await store.files())[0]).toMatchObject({ chunksPresent: 3, state: 'partial' });
    // Not served any more.
    await failsWith(store.chunkLocation(m.fileId, 2, 'read'), 'NOT_FOUND');

    // The chunk can be fetched again: a write lease is granted and the good bytes make it present.
    expect((await writeChunk(store, m.fileId, 2, chunkOf(data, 2))).fileComplete).toBe(true);
    expect(await store.verifyChunks(m.fileId)).toEqual({ fileId: m.fileId, checked: 4, corrupt: [] });
  });

  test('verify refuses an index past the file, and a file it does not hold', async () => {
    const { store, m } = await fullFile(2, 6);
    expect(await failsWith(store.verifyChunks(m.fileId, [2]), 'OUT_OF_RANGE')).toMatch(/has 2 chunks/);
    await failsWith(store.verifyChunks('0'.repeat(64)), 'NOT_FOUND');
  });

  test('the scrub re-hashes every present chunk at the configured rate, marks the bad ones missing and tells the gateway', async () => {
    const { store, m, path } = await fullFile(6, 8);
    const heard: unknown[] = [];
    const sub = h.nc.subscribe(storeSubjects(store.nodeId).corrupt, { callback: (_e, msg) => heard.push(JSON.parse(Buffer.from(msg.data).toString())) });
    corrupt(path, 0);
    corrupt(path, 5);
    const waits: number[] = [];
    const counted = { bytes: 0, corrupt: 0 };
    const scrubber = new Scrubber(
      store,
      { bytesPerSec: 4 * CHUNK, batch: 2, sleep: async (ms) => void waits.push(ms) },
      undefined,
      {
        scrubBytes: { inc: (n = 1) => void (counted.bytes += n) } as never,
        chunksCorrupt: { inc: (_l: unknown, n = 1) => void (counted.corrupt += n) } as never,
      },
    );
    const r = await scrubber.pass();
    expect(r).toEqual({ files: 1, chunks: 6, bytes: 6 * CHUNK, corrupt: 2 });
    expect(counted).toEqual({ bytes: 6 * CHUNK, corrupt: 2 });
    // 6 chunks at 4 chunks/s: 1.5 s of waiting in all, spread over the batches (the rate bound).
    expect(waits.reduce((a, b) => a + b, 0)).toBeCloseTo(1500, 5);
    expect(waits).toHaveLength(3);
    expect(Bitfield.fromBase64(6, (await store.have(m.fileId)).bitfield).indexes()).toEqual([1, 2, 3, 4]);
    for (let i = 0; i < 50 && heard.length < 2; i++) await sleep(20);
    expect(heard).toEqual([
      { nodeId: store.nodeId, fileId: m.fileId, indexes: [0] },
      { nodeId: store.nodeId, fileId: m.fileId, indexes: [5] },
    ]);
    sub.unsubscribe();
    // The next pass checks only what is present, and finds nothing more.
    expect(await scrubber.pass()).toEqual({ files: 1, chunks: 4, bytes: 4 * CHUNK, corrupt: 0 });
  });

  test('a scrubber with rate 0 is off and never starts', async () => {
    const { store } = await fullFile(1, 9);
    const s = new Scrubber(store, { bytesPerSec: 0 });
    expect(s.enabled).toBe(false);
    s.start();
    await s.stop();
  });
});
