import { chunkSizeFor } from './chunk-size';

const MiB = 1024 * 1024;

describe('chunkSizeFor', () => {
  it('keeps small files in 1 MiB chunks', () => {
    expect(chunkSizeFor(0)).toBe(MiB);
    expect(chunkSizeFor(5 * MiB)).toBe(MiB);
    expect(chunkSizeFor(256 * MiB)).toBe(MiB);
  });
  it('gives large files next_pow2(size/500) clamped to 4..64 MiB', () => {
    expect(chunkSizeFor(256 * MiB + 1)).toBe(4 * MiB);
    expect(chunkSizeFor(1024 * MiB)).toBe(4 * MiB);
    expect(chunkSizeFor(4 * 1024 * MiB)).toBe(16 * MiB);
    expect(chunkSizeFor(100 * 1024 * MiB)).toBe(64 * MiB);
    expect(chunkSizeFor(10 * 1024 * 1024 * MiB)).toBe(64 * MiB);
  });
});
