import { chunkLength } from '../file-id';

/** A byte range of a data file: `length` bytes from `offset`. */
export interface ByteRange {
  offset: number;
  length: number;
}

/**
 * The byte ranges that chunk `indexes` cover, with contiguous chunks coalesced into one range, so
 * that allocating a share takes one fallocate per run of chunks rather than one per chunk.
 * Duplicates are ignored; the order of `indexes` does not matter.
 */
export function chunkRuns(indexes: Iterable<number>, size: number, chunkSize: number): ByteRange[] {
  const sorted = [...new Set(indexes)].sort((a, b) => a - b);
  const runs: ByteRange[] = [];
  for (const i of sorted) {
    const offset = i * chunkSize;
    const length = chunkLength(size, chunkSize, i); // throws for an index past the file
    const last = runs[runs.length - 1];
    if (last && last.offset + last.length === offset) last.length += length;
    else runs.push({ offset, length });
  }
  return runs;
}

/** Total bytes of the chunks `indexes` (each counted once). */
export function chunkBytes(indexes: Iterable<number>, size: number, chunkSize: number): number {
  return chunkRuns(indexes, size, chunkSize).reduce((n, r) => n + r.length, 0);
}
