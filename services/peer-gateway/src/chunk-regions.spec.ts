import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { type Lease, SwarmError } from '@swarmshare/common';
import { ChunkRegions } from './chunk-regions';

const CHUNK = 64 * 1024;

/** The two store calls ChunkRegions makes, answered from a table, with every close recorded. */
function fakeStore(pathFor: (fileId: string) => string) {
  const closes: Array<{ leaseId: string; written?: number }> = [];
  let n = 0;
  return {
    closes,
    store: {
      location: async (fileId: string, index: number, mode: 'read' | 'write'): Promise<Lease> => ({
        leaseId: `l${++n}`,
        fileId,
        index,
        mode,
        path: pathFor(fileId),
        offset: index * CHUNK,
        length: index === 2 ? 100 : CHUNK,
        expiresAt: Date.now() + 60_000,
      }),
      close: async (leaseId: string, written?: number) => {
        closes.push({ leaseId, written });
        return { leaseId, fileId: 'ab'.repeat(32), index: 0, available: true, fileComplete: false };
      },
    },
  };
}

describe('ChunkRegions', () => {
  let dir: string;
  let file: string;
  let content: Buffer;
  const fileId = 'ab'.repeat(32);

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'pg-regions-'));
    file = join(dir, 'files', 'data.bin');
    content = randomBytes(2 * CHUNK + 100);
    require('node:fs').mkdirSync(join(dir, 'files'));
    writeFileSync(file, content);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('maps exactly the leased region for reading, and closes the lease on release', async () => {
    const { store, closes } = fakeStore(() => file);
    const r = new ChunkRegions(store, dir);
    const one = await r.openRead(fileId, 1);
    expect(one.data.equals(content.subarray(CHUNK, 2 * CHUNK))).toBe(true);
    const last = await r.openRead(fileId, 2);
    expect(last.data.equals(content.subarray(2 * CHUNK))).toBe(true);
    await one.release();
    await one.release(); // idempotent
    expect(closes).toEqual([{ leaseId: 'l1', written: undefined }]);
  });

  it('writes through the shared mapping and commits with the bytes written', async () => {
    const { store, closes } = fakeStore(() => file);
    const r = new ChunkRegions(store, dir);
    const w = await r.openWrite(fileId, 1);
    const fresh = randomBytes(CHUNK);
    fresh.copy(w.data);
    expect(r.writesInFlight).toBe(1);
    await w.commit(CHUNK);
    expect(closes).toEqual([{ leaseId: 'l1', written: CHUNK }]);
    expect(r.writesInFlight).toBe(0);
    // MAP_SHARED: the bytes are in the file, not in a private copy.
    expect(readFileSync(file).subarray(CHUNK, 2 * CHUNK).equals(fresh)).toBe(true);
  });

  it('refuses a lease whose path is outside DATA_DIR, and hands the lease back', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'pg-outside-'));
    writeFileSync(join(outside, 'secret'), randomBytes(3 * CHUNK));
    try {
      for (const path of [join(outside, 'secret'), join(dir, '..', outside.split('/').pop()!, 'secret'), dir + '-evil/x']) {
        const { store, closes } = fakeStore(() => path);
        const r = new ChunkRegions(store, dir);
        await expect(r.openRead(fileId, 0)).rejects.toMatchObject({ code: 'INTERNAL', message: expect.stringMatching(/outside this gateway's DATA_DIR/) });
        await expect(r.openWrite(fileId, 0)).rejects.toBeInstanceOf(SwarmError);
        await new Promise((res) => setImmediate(res));
        expect(closes).toEqual([
          { leaseId: 'l1', written: undefined },
          { leaseId: 'l2', written: 0 },
        ]);
      }
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('abandonAll closes every open write lease short, so its chunk stays missing', async () => {
    const { store, closes } = fakeStore(() => file);
    const r = new ChunkRegions(store, dir);
    await r.openWrite(fileId, 0);
    await r.openWrite(fileId, 2);
    await r.abandonAll();
    expect(closes).toEqual([
      { leaseId: 'l1', written: CHUNK - 1 },
      { leaseId: 'l2', written: 99 },
    ]);
    expect(r.writesInFlight).toBe(0);
  });
});
