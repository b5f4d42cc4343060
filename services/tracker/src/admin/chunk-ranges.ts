import type { Bitfield } from '@swarmshare/common';

/** Chunks [first, last] (inclusive) held by exactly `holders`. */
export interface ChunkRange {
  first: number;
  last: number;
  copies: number;
  holders: string[];
}

/**
 * Replication per chunk range: consecutive chunks with the same set of holders form one range, so a
 * fully replicated file is one line and a gap shows exactly where. Holders are listed in the order given.
 */
export function chunkRanges(chunkCount: number, haves: ReadonlyArray<{ nodeId: string; have: Bitfield }>): ChunkRange[] {
  const ranges: ChunkRange[] = [];
  let current: ChunkRange | undefined;
  for (let i = 0; i < chunkCount; i++) {
    const holders = haves.filter((h) => h.have.get(i)).map((h) => h.nodeId);
    if (current && sameHolders(current.holders, holders)) {
      current.last = i;
      continue;
    }
    current = { first: i, last: i, copies: holders.length, holders };
    ranges.push(current);
  }
  return ranges;
}

function sameHolders(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
