import type { Bitfield } from '@swarmshare/common';

const MISSING = 0;
const ASSIGNED = 1;
const DONE = 2;

interface HolderState {
  have: Bitfield;
  inFlight: Set<number>;
  live: boolean;
}

/**
 * Which chunk to ask which holder for next. Pure bookkeeping, no I/O:
 * - a holder gets at most `depth` chunks at once (the pipeline);
 * - it only gets chunks it has, rarest first (fewest live holders), ties broken at random so that
 *   several downloaders spread over the swarm;
 * - a chunk is assigned to one holder at a time; a chunk whose fetch failed goes back to the pool.
 * A removed holder gets nothing new, but its in-flight chunks stay assigned until the caller
 * settles them (after giving their write leases back), so no two writers race for one chunk.
 */
export class DownloadScheduler {
  private readonly state: Uint8Array;
  private readonly availability: Uint16Array;
  private readonly holders = new Map<string, HolderState>();
  private missing: number;

  constructor(
    readonly chunkCount: number,
    present: Bitfield,
    private readonly depth: number,
    private readonly random: () => number = Math.random,
  ) {
    if (present.length !== chunkCount) throw new RangeError(`local bitfield has ${present.length} bits, file has ${chunkCount} chunks`);
    this.state = new Uint8Array(chunkCount);
    this.availability = new Uint16Array(chunkCount);
    this.missing = chunkCount;
    for (let i = 0; i < chunkCount; i++) {
      if (present.get(i)) {
        this.state[i] = DONE;
        this.missing--;
      }
    }
  }

  addHolder(id: string, have: Bitfield): void {
    if (this.holders.has(id)) throw new Error(`holder ${id} added twice`);
    if (have.length !== this.chunkCount) throw new RangeError(`holder ${id} bitfield has ${have.length} bits, file has ${this.chunkCount} chunks`);
    this.holders.set(id, { have, inFlight: new Set(), live: true });
    for (let i = 0; i < this.chunkCount; i++) if (have.get(i)) this.availability[i]++;
  }

  /** No new assignments for this holder; returns the chunks it still has in flight. */
  removeHolder(id: string): number[] {
    const h = this.holders.get(id);
    if (!h || !h.live) return [];
    h.live = false;
    for (let i = 0; i < this.chunkCount; i++) if (h.have.get(i)) this.availability[i]--;
    return [...h.inFlight];
  }

  /** The holder said it does not have this chunk after all. */
  lacks(id: string, index: number): void {
    const h = this.holders.get(id);
    if (!h || !h.have.get(index)) return;
    h.have.set(index, false);
    if (h.live) this.availability[index]--;
  }

  /** The next chunk for this holder, or undefined if its pipeline is full or it has nothing we need. */
  next(id: string): number | undefined {
    const h = this.holders.get(id);
    if (!h || !h.live || h.inFlight.size >= this.depth || this.missing === 0) return undefined;
    const n = this.chunkCount;
    const start = Math.floor(this.random() * n) % n;
    let best = -1;
    for (let k = 0; k < n; k++) {
      const i = start + k < n ? start + k : start + k - n;
      if (this.state[i] !== MISSING || !h.have.get(i)) continue;
      if (best < 0 || this.availability[i] < this.availability[best]) {
        best = i;
        if (this.availability[i] <= 1) break; // only this holder has it: cannot get rarer
      }
    }
    if (best < 0) return undefined;
    this.state[best] = ASSIGNED;
    h.inFlight.add(best);
    return best;
  }

  /** The chunk is stored and verified. */
  completed(id: string, index: number): void {
    this.holders.get(id)?.inFlight.delete(index);
    if (this.state[index] !== DONE) {
      this.state[index] = DONE;
      this.missing--;
    }
  }

  /** The fetch failed: the chunk goes back to the pool. */
  requeue(id: string, index: number): void {
    this.holders.get(id)?.inFlight.delete(index);
    if (this.state[index] === ASSIGNED) this.state[index] = MISSING;
  }

  isDone(): boolean {
    return this.missing === 0;
  }

  missingCount(): number {
    return this.missing;
  }

  inFlight(id?: string): number {
    if (id !== undefined) return this.holders.get(id)?.inFlight.size ?? 0;
    let n = 0;
    for (const h of this.holders.values()) n += h.inFlight.size;
    return n;
  }

  liveHolders(): string[] {
    return [...this.holders].filter(([, h]) => h.live).map(([id]) => id);
  }

  /** Live holders that have this chunk. */
  holdersOf(index: number): number {
    return this.availability[index];
  }

  /** True when some missing chunk can still be fetched: it is in flight, or a live holder has it. */
  canProgress(): boolean {
    if (this.missing === 0) return true;
    if (this.inFlight() > 0) return true;
    for (let i = 0; i < this.chunkCount; i++) if (this.state[i] === MISSING && this.availability[i] > 0) return true;
    return false;
  }
}
