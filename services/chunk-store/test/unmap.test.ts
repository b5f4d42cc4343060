import { readFileSync } from 'node:fs';
import { CHUNK, chunkOf, content, Harness, manifestFor } from './support';

/** Lines of this process's memory map that name a file under `dir`. */
function mappedUnder(dir: string): string[] {
  return readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter((l) => l.includes(dir));
}

const gc = (globalThis as { gc?: () => void }).gc;

describe('close() unmaps everything', () => {
  const h = new Harness();
  beforeAll(() => h.setup());
  afterAll(() => h.teardown());

  test('jest runs with --expose-gc', () => {
    expect(typeof gc).toBe('function');
  });

  test('after close() and a GC no mapping of a file under the data dir is left', async () => {
    const dataDir = h.dir();
    // Small windows: the 5-chunk file is mapped in three pieces, all of which must go.
    const store = await h.store({ dataDir, mapWindowBytes: 2 * CHUNK });
    const big = content(5 * CHUNK - 7, 1);
    const small = content(CHUNK, 2);
    const mb = manifestFor('big.bin', big);
    const ms = manifestFor('small.bin', small);
    await store.createFile(mb);
    await store.createFile(ms);

    // Leases are used and their buffers dropped inside this function, as a well-behaved caller does.
    const useLeases = async () => {
      for (let i = 0; i < 5; i++) {
        const { lease, buffer } = await store.chunkLocation(mb.fileId, i, 'write');
        chunkOf(big, i).copy(buffer);
        await store.chunkClose(lease.leaseId, buffer.length);
      }
      const w = await store.chunkLocation(ms.fileId, 0, 'write');
      small.copy(w.buffer);
      await store.chunkClose(w.lease.leaseId);
      const r = await store.chunkLocation(mb.fileId, 4, 'read');
      const same = Buffer.compare(r.buffer, chunkOf(big, 4)) === 0;
      await store.chunkClose(r.lease.leaseId);
      return same;
    };
    expect(await useLeases()).toBe(true);

    const before = mappedUnder(dataDir);
    expect(before.some((l) => l.includes(mb.fileId))).toBe(true);
    expect(before.some((l) => l.includes(ms.fileId))).toBe(true);

    store.close();
    // The munmap runs in the Buffer's finaliser, which may need a turn of the event loop after the GC.
    let after = mappedUnder(dataDir);
    for (let i = 0; i < 20 && after.length > 0; i++) {
      gc!();
      await new Promise((r) => setImmediate(r));
      after = mappedUnder(dataDir);
    }
    expect(after).toEqual([]);
    // The bytes written through the mappings were synced and are in the files.
    expect((await h.store({ dataDir, nodeId: store.nodeId }).then((s) => s.have(mb.fileId))).present).toBe(5);
  });
});
