import { Bitfield } from '@swarmshare/common';

const MISSING = 0;
const ASSIGNED = 1;
const DONE = 2;

interface HolderState {
  have: Bitfield;
  /** It held the whole file when it joined: an origin (a seed), not a fellow downloader. */
  origin: boolean;
  inFlight: Set<number>;
  live: boolean;
  /** Pipeline depth for this holder (sized from its measured rate by the job). */
  depth: number;
  /** Chunks this holder refused for now (TRY_PEERS), with when it may be asked again. */
  deferred: Map<number, number>;
}

/**
 * Which chunk to ask which holder for next. Pure bookkeeping, no I/O:
 * - a holder gets at most its depth of chunks at once (the pipeline; setDepth() resizes it);
 * - it only gets chunks it has, rarest first (fewest live holders), ties broken at random so that
 *   several downloaders spread over the swarm;
 * - a chunk is assigned to one holder at a time, except in endgame: when a holder has nothing
 *   unassigned left to fetch and at most `endgameChunks` chunks are missing, nextDuplicate() gives
 *   it a chunk already in flight elsewhere (at most one duplicate per chunk); the first to arrive
 *   wins and the caller cancels the other;
 * - a chunk whose fetch failed goes back to the pool once no request for it is left;
 * - a holder that held the whole file when it joined (an origin) is only asked for chunks that no
 *   live fellow downloader (a holder that joined with part of the file, complete since or not) has:
 *   those come from the downloaders, so the origin sends each chunk about once and the fetchers
 *   trade the rest (docs/performance.md);
 * - a chunk a holder refused for now (TRY_PEERS, super-seeding) is not asked of it again until
 *   its deferral expires; other holders may get it at once.
 * A removed holder gets nothing new, but its in-flight chunks stay assigned until the caller
 * settles them (after giving their write leases back), so no two writers race for one chunk.
 */
export class DownloadScheduler {
  private readonly state: Uint8Array;
  private readonly availability: Uint16Array;
  /** Requests in flight per chunk (2 = original + endgame duplicate). */
  private readonly requests: Uint8Array;
  /** Live fellow downloaders (holders that are not origins) that have each chunk: an origin is not asked for these. */
  private readonly peerAvailability: Uint16Array;
  private readonly holders = new Map<string, HolderState>();
  private missing: number;

  constructor(
    readonly chunkCount: number,
    present: Bitfield,
    private readonly depth: number,
    private readonly random: () => number = Math.random,
    private readonly endgameChunks = 32,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (present.length !== chunkCount) throw new RangeError(`local bitfield has ${present.length} bits, file has ${chunkCount} chunks`);
    this.state = new Uint8Array(chunkCount);
    this.availability = new Uint16Array(chunkCount);
    this.requests = new Uint8Array(chunkCount);
    this.peerAvailability = new Uint16Array(chunkCount);
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
    const origin = have.count() === this.chunkCount;
    const h: HolderState = { have: new Bitfield(this.chunkCount), origin, inFlight: new Set(), live: true, depth: this.depth, deferred: new Map() };
    this.holders.set(id, h);
    for (let i = 0; i < this.chunkCount; i++) if (have.get(i)) this.setHas(h, i, true);
  }

  /** A fresh HAVE from a holder (it fetched more meanwhile, e.g. another downloader): rarity follows. */
  updateHolder(id: string, have: Bitfield): void {
    const h = this.holders.get(id);
    if (!h) return;
    if (have.length !== this.chunkCount) throw new RangeError(`holder ${id} bitfield has ${have.length} bits, file has ${this.chunkCount} chunks`);
    for (let i = 0; i < this.chunkCount; i++) if (h.have.get(i) !== have.get(i)) this.setHas(h, i, have.get(i));
  }

  /** A have-update: the holder stored these chunks since its HAVE (bits are only ever set here). */
  addChunks(id: string, indexes: readonly number[]): void {
    const h = this.holders.get(id);
    if (!h) return;
    for (const i of indexes) {
      if (!Number.isInteger(i) || i < 0 || i >= this.chunkCount) throw new RangeError(`holder ${id} announced chunk ${i}; the file has ${this.chunkCount} chunks`);
      if (!h.have.get(i)) this.setHas(h, i, true);
    }
  }

  /** The one place a holder's bit changes, so both availability counts stay exact. */
  private setHas(h: HolderState, i: number, has: boolean): void {
    if (h.have.get(i) === has) return;
    h.have.set(i, has);
    if (!h.live) return;
    this.availability[i] += has ? 1 : -1;
    if (!h.origin) this.peerAvailability[i] += has ? 1 : -1;
  }

  /** Resize a holder's pipeline (from its measured rate). */
  setDepth(id: string, depth: number): void {
    const h = this.holders.get(id);
    if (h) h.depth = Math.max(1, Math.floor(depth));
  }

  depthOf(id: string): number {
    return this.holders.get(id)?.depth ?? 0;
  }

  /** No new assignments for this holder; returns the chunks it still has in flight. */
  removeHolder(id: string): number[] {
    const h = this.holders.get(id);
    if (!h || !h.live) return [];
    for (let i = 0; i < this.chunkCount; i++) {
      if (!h.have.get(i)) continue;
      this.availability[i]--;
      if (!h.origin) this.peerAvailability[i]--;
    }
    h.live = false;
    return [...h.inFlight];
  }

  /** The holder said it does not have this chunk after all. */
  lacks(id: string, index: number): void {
    const h = this.holders.get(id);
    if (h) this.setHas(h, index, false);
  }

  /** The holder refused this chunk for now (TRY_PEERS): not asked of it again before `until` (see now()). */
  defer(id: string, index: number, until: number): void {
    this.holders.get(id)?.deferred.set(index, until);
  }

  /** When the earliest deferral expires (the caller fills again then), or undefined if none is pending. */
  nextDeferralExpiry(): number | undefined {
    let earliest: number | undefined;
    const now = this.now();
    for (const h of this.holders.values()) {
      for (const [i, until] of h.deferred) {
        if (until <= now || this.state[i] === DONE) h.deferred.delete(i);
        else if (earliest === undefined || until < earliest) earliest = until;
      }
    }
    return earliest;
  }

  /**
   * May this holder be asked for chunk i now? Not while it deferred it, and an origin not while a
   * fellow downloader has it (the origin's upload goes to chunks nobody else can give).
   */
  private askable(h: HolderState, i: number, now: number): boolean {
    if (!h.have.get(i)) return false;
    if (h.origin && this.peerAvailability[i] > 0) return false;
    const until = h.deferred.get(i);
    if (until === undefined) return true;
    if (until > now) return false;
    h.deferred.delete(i);
    return true;
  }

  /** The next chunk for this holder, or undefined if its pipeline is full or it has nothing we need. */
  next(id: string): number | undefined {
    const h = this.holders.get(id);
    if (!h || !h.live || h.inFlight.size >= h.depth || this.missing === 0) return undefined;
    const n = this.chunkCount;
    const start = Math.floor(this.random() * n) % n;
    const now = this.now();
    let best = -1;
    for (let k = 0; k < n; k++) {
      const i = start + k < n ? start + k : start + k - n;
      if (this.state[i] !== MISSING || !this.askable(h, i, now)) continue;
      if (best < 0 || this.availability[i] < this.availability[best]) {
        best = i;
        if (this.availability[i] <= 1) break; // only this holder has it: cannot get rarer
      }
    }
    if (best < 0) return undefined;
    this.state[best] = ASSIGNED;
    this.requests[best]++;
    h.inFlight.add(best);
    return best;
  }

  /**
   * Endgame: a chunk in flight at another holder, to request from this one as well. Only when this
   * holder has pipeline room, no unassigned chunk of its own left, and few chunks are missing.
   */
  nextDuplicate(id: string, eligible: (index: number) => boolean = () => true): number | undefined {
    const h = this.holders.get(id);
    if (!h || !h.live || h.inFlight.size >= h.depth || this.missing === 0 || this.missing > this.endgameChunks) return undefined;
    const now = this.now();
    let best = -1;
    for (let i = 0; i < this.chunkCount; i++) {
      if (this.state[i] === DONE || h.inFlight.has(i) || !this.askable(h, i, now)) continue;
      if (this.state[i] === MISSING) return undefined; // normal work left for this holder: not endgame
      if (this.requests[i] === 1 && best < 0 && eligible(i)) best = i;
    }
    if (best < 0) return undefined;
    this.requests[best]++;
    h.inFlight.add(best);
    return best;
  }

  /** The chunk is stored and verified; other requests for it are the caller's to cancel. */
  completed(id: string, index: number): void {
    this.holders.get(id)?.inFlight.delete(index);
    if (this.requests[index] > 0) this.requests[index]--;
    if (this.state[index] !== DONE) {
      this.state[index] = DONE;
      this.missing--;
    }
  }

  /** The fetch failed (or lost the endgame race): once no request for it is left, the chunk goes back to the pool. */
  requeue(id: string, index: number): void {
    const h = this.holders.get(id);
    if (!h?.inFlight.delete(index)) return;
    if (this.requests[index] > 0) this.requests[index]--;
    if (this.state[index] === ASSIGNED && this.requests[index] === 0) this.state[index] = MISSING;
  }

  isDone(): boolean {
    return this.missing === 0;
  }

  missingCount(): number {
    return this.missing;
  }

  /** Requests in flight for one chunk (original plus endgame duplicate). */
  requestsFor(index: number): number {
    return this.requests[index];
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
