import { SwarmError } from '@swarmshare/common';

/**
 * The write-path invariant of one chunk under a write lease: its bytes are written exactly once, in
 * full, before its close. Every write() is recorded as a byte range; at commit the ranges must cover
 * [0, written) with no byte twice and nothing beyond. A write of the whole chunk at offset 0 (an
 * endgame duplicate that won, replacing what a cancelled request had streamed) starts the ledger
 * again: what counts is the bytes the close vouches for.
 *
 * Writes through the shared mapping (STORE pushes) cannot be seen here; `untracked()` turns the
 * check off for such a chunk, and the store's hash check is what guards it.
 */
export class WriteLedger {
  /** Written ranges [start, end), kept sorted and disjoint. */
  private ranges: Array<[number, number]> = [];
  private tracking = true;
  /** The first broken rule, if any (reported at commit). */
  private broken?: string;

  constructor(private readonly length: number) {}

  record(at: number, bytes: number): void {
    if (!this.tracking || this.broken || bytes === 0) return;
    if (at === 0 && bytes === this.length) {
      this.ranges = [[0, bytes]];
      return;
    }
    const end = at + bytes;
    const i = this.ranges.findIndex(([, e]) => e > at);
    if (i >= 0 && this.ranges[i][0] < end) {
      this.broken = `bytes ${Math.max(at, this.ranges[i][0])}..${Math.min(end, this.ranges[i][1])} were written twice`;
      return;
    }
    const pos = i < 0 ? this.ranges.length : i;
    this.ranges.splice(pos, 0, [at, end]);
    // Merge with neighbours that touch, so a chunk written in order stays one range.
    const merged: Array<[number, number]> = [];
    for (const r of this.ranges) {
      const last = merged[merged.length - 1];
      if (last && last[1] === r[0]) last[1] = r[1];
      else merged.push([r[0], r[1]]);
    }
    this.ranges = merged;
  }

  /** Bytes were written where the ledger cannot see them (the mapping). */
  untracked(): void {
    this.tracking = false;
  }

  /** Throws (INTERNAL, naming the rule) unless [0, written) was written exactly once and nothing else. */
  check(written: number, what: string): void {
    if (!this.tracking) return;
    const problem =
      this.broken ??
      (written === 0 && this.ranges.length === 0
        ? undefined
        : this.ranges.length !== 1 || this.ranges[0][0] !== 0 || this.ranges[0][1] !== written
          ? `${this.covered()} bytes were written in ${this.ranges.length} range(s) ending at ${this.ranges[this.ranges.length - 1]?.[1] ?? 0}, the close claims ${written}`
          : undefined);
    if (problem) throw new SwarmError('INTERNAL', `write-path invariant broken for ${what}: ${problem}`);
  }

  private covered(): number {
    return this.ranges.reduce((n, [s, e]) => n + e - s, 0);
  }
}
