import { randomBytes } from 'node:crypto';
import {
  checkManifestPage,
  collectManifestPages,
  computeFileId,
  type Manifest,
  manifestIsConsistent,
  manifestPage,
  manifestPages,
  ManifestPageSchema,
  MANIFEST_PAGE_HASHES,
  MAX_CHUNKS,
  MIN_CHUNK_SIZE,
  pageStarts,
} from '@swarmshare/common/contracts';

/** A manifest of `count` chunks of 64 KiB with random hashes (its id computed from them: consistent). */
function bigManifest(count: number, lastChunk = MIN_CHUNK_SIZE): Manifest {
  const hashes = Array.from({ length: count }, () => randomBytes(32).toString('hex'));
  const size = (count - 1) * MIN_CHUNK_SIZE + lastChunk;
  return { fileId: computeFileId(size, MIN_CHUNK_SIZE, hashes), name: 'big.bin', size, chunkSize: MIN_CHUNK_SIZE, hashes };
}

describe('manifest pages', () => {
  it('cuts a manifest into pages of MANIFEST_PAGE_HASHES that put it back together, each one a valid page', async () => {
    const m = bigManifest(2 * MANIFEST_PAGE_HASHES + 5, 1000);
    const pages = [...manifestPages(m)];
    expect(pages.map((p) => [p.from, p.hashes.length])).toEqual([
      [0, MANIFEST_PAGE_HASHES],
      [MANIFEST_PAGE_HASHES, MANIFEST_PAGE_HASHES],
      [2 * MANIFEST_PAGE_HASHES, 5],
    ]);
    for (const p of pages) expect(ManifestPageSchema.safeParse(p).success).toBe(true);
    const asked: number[] = [];
    const back = await collectManifestPages(m.fileId, async (from, count) => (asked.push(from), manifestPage(m, from, count)), { source: 'test' });
    expect(back).toEqual(m);
    expect(manifestIsConsistent(back)).toBe(true);
    expect(asked.sort((a, b) => a - b)).toEqual([0, MANIFEST_PAGE_HASHES, 2 * MANIFEST_PAGE_HASHES]);
  });

  it('has one empty page for an empty file, and none past the end', () => {
    const empty: Manifest = { fileId: computeFileId(0, MIN_CHUNK_SIZE, []), name: 'e', size: 0, chunkSize: MIN_CHUNK_SIZE, hashes: [] };
    expect(manifestPage(empty, 0, 10).hashes).toEqual([]);
    expect(pageStarts(0)).toEqual([]);
    const m = bigManifest(3);
    expect(() => manifestPage(m, 3, 10)).toThrow(/past the 3 chunks/);
  });

  it('refuses a page that does not fit what was asked or the first page', () => {
    const m = bigManifest(10);
    const first = manifestPage(m, 0, 4);
    const ask = { fileId: m.fileId, from: 4, count: 4, first };
    expect(() => checkManifestPage(manifestPage(m, 4, 4), ask, 'peer x')).not.toThrow();
    expect(() => checkManifestPage(manifestPage(m, 4, 3), ask, 'peer x')).toThrow(/peer x sent a bad manifest page.*carries 3 hashes, not 4/);
    expect(() => checkManifestPage(manifestPage(m, 8, 4), ask, 'peer x')).toThrow(/starts at 8, not at 4/);
    expect(() => checkManifestPage({ ...manifestPage(m, 4, 4), name: 'other' }, ask, 'peer x')).toThrow(/differ from the first page/);
    expect(() => checkManifestPage({ ...manifestPage(m, 4, 4), chunkCount: 11 }, ask, 'peer x')).toThrow(/chunkCount is 11/);
    expect(() => checkManifestPage({ ...manifestPage(m, 4, 4), fileId: 'f'.repeat(64) }, ask, 'peer x')).toThrow(/it is for file/);
  });

  it('refuses, on the first page, a file of more than MAX_CHUNKS chunks, before allocating anything for it', async () => {
    const size = (MAX_CHUNKS + 1) * MIN_CHUNK_SIZE;
    const page = { fileId: 'a'.repeat(64), name: 'x', size, chunkSize: MIN_CHUNK_SIZE, chunkCount: MAX_CHUNKS + 1, from: 0, hashes: [] };
    expect(ManifestPageSchema.safeParse(page).success).toBe(false);
    let calls = 0;
    await expect(collectManifestPages(page.fileId, async () => (calls++, page), { source: 'peer y' })).rejects.toThrow(/more than the 2097152 a file may have/);
    expect(calls).toBe(1);
  });

  it('admits a 100 GiB file at the smallest chunk size within MAX_CHUNKS, with sizes that stay exact integers', () => {
    const size = 100 * 1024 ** 3;
    const count = Math.ceil(size / MIN_CHUNK_SIZE);
    expect(count).toBe(1_638_400);
    expect(count).toBeLessThanOrEqual(MAX_CHUNKS);
    // The last chunk's offset and the whole size are far below 2^53; u32 chunk indexes (STORE header) hold them.
    expect(Number.isSafeInteger((count - 1) * MIN_CHUNK_SIZE + MIN_CHUNK_SIZE)).toBe(true);
    expect(count - 1).toBeLessThan(2 ** 32);
    const page = { fileId: 'a'.repeat(64), name: 'x', size, chunkSize: MIN_CHUNK_SIZE, chunkCount: count, from: count - 1, hashes: ['b'.repeat(64)] };
    expect(ManifestPageSchema.safeParse(page).success).toBe(true);
  });
});
