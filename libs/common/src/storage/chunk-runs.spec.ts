import { chunkBytes, chunkRuns } from './chunk-runs';

describe('chunkRuns: the byte ranges of a set of chunks, contiguous chunks coalesced', () => {
  const size = 10 * 100 + 40; // 11 chunks of 100 bytes, the last one 40

  it('gives one range per run of adjacent chunks, whatever the order and duplicates', () => {
    expect(chunkRuns([3, 0, 1, 2, 7, 8, 5, 1], size, 100)).toEqual([
      { offset: 0, length: 400 },
      { offset: 500, length: 100 },
      { offset: 700, length: 200 },
    ]);
  });

  it('counts the short last chunk by its own length, and the whole file as one range', () => {
    expect(chunkRuns([10], size, 100)).toEqual([{ offset: 1000, length: 40 }]);
    const all = Array.from({ length: 11 }, (_, i) => i);
    expect(chunkRuns(all, size, 100)).toEqual([{ offset: 0, length: size }]);
    expect(chunkBytes(all, size, 100)).toBe(size);
    expect(chunkBytes([9, 10, 10], size, 100)).toBe(140);
  });

  it('gives nothing for no chunks and refuses a chunk past the end of the file', () => {
    expect(chunkRuns([], size, 100)).toEqual([]);
    expect(() => chunkRuns([11], size, 100)).toThrow(/out of range/);
  });
});
