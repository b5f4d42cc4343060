import { randomBytes } from 'node:crypto';
import { computeFileId, type Manifest, manifestPages, MANIFEST_PAGE_HASHES, MIN_CHUNK_SIZE } from '@swarmshare/common';
import { PagedCreates } from './paged-creates';

function manifest(count: number): Manifest {
  const hashes = Array.from({ length: count }, () => randomBytes(32).toString('hex'));
  const size = count * MIN_CHUNK_SIZE;
  return { fileId: computeFileId(size, MIN_CHUNK_SIZE, hashes), name: 'm.bin', size, chunkSize: MIN_CHUNK_SIZE, hashes };
}

describe('PagedCreates', () => {
  it('gathers pages in order and gives the whole manifest, with the first page\'s share, at the last one', () => {
    const c = new PagedCreates({ max: 2, timeoutMs: 1000, now: () => 0 });
    const m = manifest(2 * MANIFEST_PAGE_HASHES + 1);
    const [p0, p1, p2] = [...manifestPages(m)];
    expect(c.take(p0, 'AAAA')).toEqual({ done: false, received: MANIFEST_PAGE_HASHES });
    expect(c.take(p1)).toEqual({ done: false, received: 2 * MANIFEST_PAGE_HASHES });
    expect(c.take(p2)).toEqual({ done: true, manifest: m, share: 'AAAA' });
    expect(c.size).toBe(0);
  });

  it('refuses a page out of order, and one for a create it does not know', () => {
    const c = new PagedCreates({ max: 2, timeoutMs: 1000, now: () => 0 });
    const [p0, p1, p2] = [...manifestPages(manifest(2 * MANIFEST_PAGE_HASHES + 1))];
    expect(() => c.take(p1)).toThrow(/no paged create .* is under way/);
    c.take(p0);
    expect(() => c.take(p2)).toThrow(/starts at 16384, not at 8192/);
  });

  it('drops a create whose next page is later than the timeout (injected clock), and bounds creates at once', () => {
    let now = 0;
    const c = new PagedCreates({ max: 1, timeoutMs: 1000, now: () => now });
    const a = [...manifestPages(manifest(MANIFEST_PAGE_HASHES + 1))];
    const b = [...manifestPages(manifest(MANIFEST_PAGE_HASHES + 1))];
    c.take(a[0]);
    expect(() => c.take(b[0])).toThrow(/already 1 paged creates under way .*PAGED_CREATES_MAX/);
    now = 1001;
    expect(c.take(b[0])).toEqual({ done: false, received: MANIFEST_PAGE_HASHES });
    expect(() => c.take(a[1])).toThrow(/PAGED_CREATE_TIMEOUT_MS/);
    expect(c.take(b[1]).done).toBe(true);
  });
});
