/**
 * Which peer the iterative lookup asks next. Peers are asked ring by ring (ring 1: our neighbours,
 * ring 2: their neighbours, ...), lower rings first, with at most `maxInFlight` questions out.
 * There is no barrier between rings: a peer learnt from a fast answer is asked as soon as a slot
 * is free, so a slow or dead peer holds up only its own slot (one timeout), never the lookup.
 */
export interface PlannedPeer {
  address: string;
  ring: number;
}

export class RingPlanner {
  private readonly queued: PlannedPeer[][] = [];
  private readonly known = new Set<string>();
  private inFlight = 0;
  asked = 0;

  constructor(
    readonly maxInFlight: number,
    readonly maxRings: number,
    /** Total questions one lookup may ask. */
    readonly maxAsked: number,
    exclude: Iterable<string> = [],
  ) {
    if (!(maxInFlight >= 1) || !(maxRings >= 1) || !(maxAsked >= 1)) throw new RangeError('ring planner needs maxInFlight, maxRings and maxAsked >= 1');
    for (const a of exclude) this.known.add(a);
  }

  /** Peers learnt at `ring` (1 = our neighbours); already known ones and rings past the limit are ignored. */
  discovered(addresses: Iterable<string>, ring: number): number {
    if (ring > this.maxRings) return 0;
    let n = 0;
    for (const address of addresses) {
      if (this.known.has(address)) continue;
      this.known.add(address);
      (this.queued[ring] ??= []).push({ address, ring });
      n++;
    }
    return n;
  }

  /** The next peer to ask, or undefined if all slots are busy, nothing is queued, or the budget is spent. */
  next(): PlannedPeer | undefined {
    if (this.inFlight >= this.maxInFlight || this.asked >= this.maxAsked) return undefined;
    for (const ring of this.queued) {
      if (ring && ring.length > 0) {
        this.inFlight++;
        this.asked++;
        return ring.shift();
      }
    }
    return undefined;
  }

  /** A question finished (answered, failed or timed out): its slot is free. */
  done(): void {
    if (this.inFlight > 0) this.inFlight--;
  }

  get pending(): number {
    return this.queued.reduce((n, r) => n + (r?.length ?? 0), 0);
  }

  get running(): number {
    return this.inFlight;
  }

  /** Nothing out and nothing more to ask (or the budget is spent): the lookup is over. */
  idle(): boolean {
    return this.inFlight === 0 && (this.pending === 0 || this.asked >= this.maxAsked);
  }
}
