import { createHash, randomBytes } from 'node:crypto';
import { ChunkHasher } from './chunk-hasher';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A chunk in shared memory, as ChunkStaging lends it. */
function sharedChunk(bytes: Buffer): Buffer {
  const chunk = Buffer.from(new SharedArrayBuffer(bytes.length));
  bytes.copy(chunk);
  return chunk;
}

describe('ChunkHasher', () => {
  it('hashes many shared chunks on its worker, each with its own digest', async () => {
    const hasher = new ChunkHasher();
    const inputs = Array.from({ length: 24 }, (_, i) => randomBytes(1000 + i * 4099));
    const digests = await Promise.all(inputs.map((b) => hasher.digest(sharedChunk(b))));
    expect(digests).toEqual(inputs.map(sha));
    expect(hasher.inFlight).toBe(0);
    await hasher.close();
  });

  it('hashes a chunk that is not shared memory, or a view that does not start at 0, on the calling thread', async () => {
    const hasher = new ChunkHasher();
    const plain = randomBytes(5000);
    expect(await hasher.digest(plain)).toBe(sha(plain));
    const view = sharedChunk(plain).subarray(10);
    expect(await hasher.digest(view)).toBe(sha(plain.subarray(10)));
    await hasher.close();
  });

  it('settles digests pending when its worker stops, and keeps hashing after that', async () => {
    const hasher = new ChunkHasher();
    const inputs = Array.from({ length: 8 }, () => randomBytes(1 << 20));
    const pending = inputs.map((b) => hasher.digest(sharedChunk(b)));
    await hasher.close(); // terminates the worker with digests possibly still queued
    expect(await Promise.all(pending)).toEqual(inputs.map(sha));
    const after = randomBytes(100);
    expect(await hasher.digest(sharedChunk(after))).toBe(sha(after));
  });
});
