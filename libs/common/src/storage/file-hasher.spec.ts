import { createHash, randomFillSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HashPool, hashFileOnce } from './file-hasher';

const MiB = 1024 * 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('hashFileOnce', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ss-hasher-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['inline (small file)', 3 * MiB + 17, MiB, 1],
    ['over threads, with the content hash on its own thread', 40 * MiB + 5, MiB, 3],
    ['4 MiB chunks over two threads (one of them for the content hash)', 33 * MiB, 4 * MiB, 2],
  ])('%s: every chunk hash and the content hash match a plain SHA-256', async (_what, size, chunkSize, threads) => {
    const data = Buffer.allocUnsafe(size);
    randomFillSync(data);
    const path = join(dir, `f-${size}`);
    writeFileSync(path, data);
    const r = await hashFileOnce(path, chunkSize, { contentHash: true, threads });
    const want: string[] = [];
    for (let pos = 0; pos < size; pos += chunkSize) want.push(sha(data.subarray(pos, Math.min(size, pos + chunkSize))));
    expect(r).toEqual({ size, chunkHashes: want, contentHash: sha(data) });
  });

  it('an empty file has no chunks and the empty content hash', async () => {
    const path = join(dir, 'empty');
    writeFileSync(path, '');
    expect(await hashFileOnce(path, MiB, { contentHash: true })).toEqual({ size: 0, chunkHashes: [], contentHash: sha(Buffer.alloc(0)) });
  });

  it('HashPool hashes on other threads and hands each buffer back intact, moved or copied', async () => {
    const pool = new HashPool(2);
    try {
      const big = Buffer.allocUnsafe(MiB + 3);
      randomFillSync(big);
      const want = Buffer.from(big);
      const small = Buffer.from('a pooled slice');
      const [a, b] = await Promise.all([pool.hash(big), pool.hash(small)]);
      expect({ hex: a.hex, same: a.data.equals(want) }).toEqual({ hex: sha(want), same: true });
      expect({ hex: b.hex, text: b.data.toString() }).toEqual({ hex: sha(Buffer.from('a pooled slice')), text: 'a pooled slice' });
    } finally {
      await pool.close();
    }
  });
});
