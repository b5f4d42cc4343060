import { ChunkStaging } from './chunk-staging';

describe('ChunkStaging', () => {
  it('lends shared buffers of the asked length within its byte budget, and reuses released ones', () => {
    const pool = new ChunkStaging(3000);
    const a = pool.take(1000)!;
    const b = pool.take(1000)!;
    const c = pool.take(1000)!;
    expect([a, b, c].map((s) => [s.chunk.length, s.chunk.buffer instanceof SharedArrayBuffer, s.chunk.byteOffset])).toEqual([
      [1000, true, 0],
      [1000, true, 0],
      [1000, true, 0],
    ]);
    expect(pool.take(1000)).toBeUndefined(); // spent: the caller takes the slower path
    b.release();
    b.release(); // twice is once
    expect(pool.freeBuffers).toBe(1);
    const again = pool.take(600)!; // a shorter (last) chunk fits in a released buffer
    expect(again.chunk.buffer).toBe(b.chunk.buffer);
    expect(again.chunk.length).toBe(600);
    expect(pool.allocatedBytes).toBe(3000);
  });

  it('drops free buffers too small for a larger chunk to make room, and refuses what can never fit', () => {
    const pool = new ChunkStaging(3000);
    const small = [pool.take(1000)!, pool.take(1000)!, pool.take(1000)!];
    for (const s of small) s.release();
    const big = pool.take(2500)!;
    expect(big.chunk.length).toBe(2500);
    expect(pool.allocatedBytes).toBeLessThanOrEqual(3000);
    expect(pool.take(4000)).toBeUndefined();
    expect(pool.take(0)).toBeUndefined();
  });
});
