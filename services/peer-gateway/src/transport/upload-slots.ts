import type { PeerRequestHandler, ReadRegion } from '@swarmshare/common';
import type { TokenBucket } from './token-bucket';

/**
 * Upload slots: at most `slots` peers are served at once; the rest wait in arrival order. A peer
 * holds its slot while any of its chunks is being served (a connection prefetches the next lease,
 * so one peer may hold several chunks under one slot) and gives it up between chunks when others
 * are waiting, so slots rotate at chunk granularity and no peer is starved. 0 = unlimited.
 */
export class UploadSlots {
  private readonly holders = new Map<string, number>();
  private readonly waiting: { peer: string; resolve(): void }[] = [];

  constructor(readonly slots: number) {
    if (!Number.isInteger(slots) || slots < 0) throw new RangeError(`upload slots must be an integer >= 0, got ${slots}`);
  }

  /** Peers holding a slot now. */
  get active(): number {
    return this.holders.size;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Resolves with a release function once `peer` may be served. */
  async acquire(peer: string): Promise<() => void> {
    const held = this.holders.get(peer);
    // A peer already served gets its next chunk under the same slot, unless others wait: then it
    // queues behind them, so a peer with a long queue cannot keep the slot for ever.
    if (held !== undefined && this.waiting.length === 0) this.holders.set(peer, held + 1);
    else if (held === undefined && this.waiting.length === 0 && (this.slots === 0 || this.holders.size < this.slots)) this.holders.set(peer, 1);
    else await new Promise<void>((resolve) => this.waiting.push({ peer, resolve }));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.release(peer);
    };
  }

  private release(peer: string): void {
    const n = (this.holders.get(peer) ?? 1) - 1;
    if (n > 0) return void this.holders.set(peer, n);
    this.holders.delete(peer);
    // Hand the free slot to the first waiter; a peer already holding one just adds to its count.
    while (this.waiting.length > 0 && (this.slots === 0 || this.holders.size < this.slots || this.holders.has(this.waiting[0].peer))) {
      const w = this.waiting.shift()!;
      this.holders.set(w.peer, (this.holders.get(w.peer) ?? 0) + 1);
      w.resolve();
    }
  }
}

/** What serving a peer is subject to: upload slots and the node's upload bandwidth limit. */
export class UploadGate {
  constructor(
    readonly slots: UploadSlots,
    readonly limit?: TokenBucket,
  ) {}

  /**
   * Wrap the node's handler for one peer: its read regions wait for a slot, then for upload tokens;
   * every other request goes to the handler as it is. `peer` is read lazily (the peer's node id is
   * only known after HELLO).
   */
  forPeer(base: PeerRequestHandler, peer: () => string): PeerRequestHandler {
    // Inherit everything from the node's handler (including methods added later); override one.
    const h = Object.create(base) as PeerRequestHandler;
    h.openRead = (fileId: string, index: number, from?: string) => this.open(peer(), () => base.openRead(fileId, index, from));
    return h;
  }

  /**
   * The region is opened before the slot is awaited: opening costs no lease (a present chunk is
   * read through a cached mapping), and a refusal (NOT_FOUND, TRY_PEERS) then reaches the peer at
   * once instead of after a turn in the slot queue.
   */
  private async open(peer: string, open: () => Promise<ReadRegion>): Promise<ReadRegion> {
    const region = await open();
    const release = await this.slots.acquire(peer);
    try {
      if (this.limit) await this.limit.take(region.data.length);
    } catch (e) {
      release();
      await region.release();
      throw e;
    }
    return {
      data: region.data,
      release: async () => {
        release();
        await region.release();
      },
    };
  }
}
