import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegionHasher, ShortRegionError } from './region-hasher';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('RegionHasher', () => {
  let dir: string;
  let path: string;
  const bytes = randomBytes(3 * 65536 + 123);
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'region-hasher-'));
    path = join(dir, 'data');
    writeFileSync(path, bytes);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('hashes each region of the file as read from disk, many at once over its threads', async () => {
    const hasher = new RegionHasher(2);
    const regions = [0, 1, 2, 3].map((i) => ({ offset: i * 65536, length: Math.min(65536, bytes.length - i * 65536) }));
    const digests = await Promise.all([...regions, ...regions].map((r) => hasher.digest(path, r.offset, r.length)));
    expect(digests).toEqual([...regions, ...regions].map((r) => sha(bytes.subarray(r.offset, r.offset + r.length))));
    expect(hasher.inFlight).toBe(0);
    await hasher.close();
  });

  it('a region past the end of the file is a ShortRegionError; a missing file another error', async () => {
    const hasher = new RegionHasher(1);
    await expect(hasher.digest(path, bytes.length - 10, 20)).rejects.toBeInstanceOf(ShortRegionError);
    const missing = hasher.digest(join(dir, 'nope'), 0, 10);
    await expect(missing).rejects.toThrow(/ENOENT/);
    await expect(missing).rejects.not.toBeInstanceOf(ShortRegionError);
    await hasher.close();
  });

  it('after close (or a dead thread) it hashes on the calling thread, with the same results', async () => {
    const hasher = new RegionHasher(1);
    await hasher.digest(path, 0, 10); // starts the thread
    await hasher.close();
    await expect(hasher.digest(path, 65536, 65536)).resolves.toBe(sha(bytes.subarray(65536, 131072)));
    await expect(hasher.digest(path, bytes.length - 10, 20)).rejects.toBeInstanceOf(ShortRegionError);
  });
});
