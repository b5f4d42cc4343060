import {
  chunkLength,
  type Logger,
  type Manifest,
  PeerClosedError,
  PeerRequestError,
  SwarmError,
  type WriteRegion,
  writeIntoRegion,
  writeRegionLength,
} from '@swarmshare/common';
import type { DownloadScheduler } from './download-scheduler';
import { type Holder, type HolderPool, short } from './holder-pool';
import type { TokenBucket } from '../transport/token-bucket';

export interface ChunkFetcherDeps {
  regions: { openWrite(fileId: string, index: number): Promise<WriteRegion> };
  /** Node-wide download bandwidth limit (DOWNLOAD_RATE_LIMIT); unset or rate 0 = off. */
  downloadLimit?: TokenBucket;
  /** Back-off base when the local store refuses a lease (LOCKED, briefly unavailable). */
  retryDelayMs?: number;
  /** A chunk a holder refused with TRY_PEERS (super-seeding) is not asked of it again for this long (default 1000 ms). */
  tryPeersDeferMs?: number;
  logger?: Logger;
}

/** What the fetcher needs from the job that owns it. */
export interface ChunkFetcherOwner {
  /** The job completed or stopped. */
  readonly ended: boolean;
  /** Every chunk is here (no error), or nothing can move any more (the error). */
  finish(err?: Error): void;
  /** A chunk of `length` bytes is stored; `from` delivered it (unset: it was stored here meanwhile). */
  chunkDone(length: number, from?: Holder): void;
}

/** One request for one chunk: the original (into the write lease) or an endgame duplicate (own buffer). */
interface Attempt {
  holder: Holder;
  id?: number;
  /** Set for a duplicate: the private buffer it receives into. */
  buf?: Buffer;
  abandoned: boolean;
}

/** A chunk being fetched: its write lease and the requests racing for it. */
interface Slot {
  index: number;
  length: number;
  region: WriteRegion;
  attempts: Set<Attempt>;
  winner?: Attempt;
  /** The last attempt that failed when none was left (its holder gets the chunk requeued). */
  lastFailed?: Attempt;
  settle(winner: Attempt | undefined): void;
}

const MAX_LOCAL_RETRIES = 5;
/**
 * LOCKED is retried for longer than other local failures: a lock held by a dead or cut-off writer
 * is released within the store's WRITER_TIMEOUT_MS (default 5 s), so this covers it three times over.
 */
const LOCKED_RETRY_MS = 15_000;
/** Anonymous memory allowed for endgame duplicates' private buffers (at least one chunk). */
const MAX_DUPLICATE_BYTES = 16 * 1024 * 1024;
/**
 * How long a chunk refused with TRY_PEERS is not asked of that holder again. Its first receiver
 * usually announces it well within this; if not (it died), the holder serves it after its window.
 */
const TRY_PEERS_DEFER_MS = 1000;

/**
 * Moves chunks from the pool's holders into write leases, as DownloadScheduler assigns them:
 * one slot (the lease) per chunk in flight, one attempt per request for it (endgame duplicates
 * race the original, the loser is abandoned), TRY_PEERS refusals deferred, local store failures
 * retried with back-off. The chunk-store verifies each chunk on close.
 */
export class ChunkFetcher {
  /** Chunks being fetched, by index. */
  private readonly slots = new Map<number, Slot>();
  private readonly fetches = new Set<Promise<void>>();
  private readonly localFailures = new Map<number, number>();
  /** When each chunk was first refused LOCKED by the local store (LOCKED_RETRY_MS counts from there). */
  private readonly lockedSince = new Map<number, number>();
  private duplicateBytes = 0;
  private retrying = 0;
  /** Fills again when the earliest TRY_PEERS deferral expires (nothing else may be due then). */
  private deferralTimer?: NodeJS.Timeout;
  /** Endgame duplicates that lost the race and were cancelled (status and tests). */
  cancelledDuplicates = 0;
  /** Chunks requested from holders, endgame duplicates included (tests compare it with what was missing). */
  requested = 0;
  /** Requests a holder refused with TRY_PEERS (super-seeding); each chunk then came from another peer. */
  tryPeersRefusals = 0;
  /** Where a chunk's time goes (summed over chunks, ms), logged at the end: lease, wire, verify+sync. */
  readonly timing = { lease: 0, wire: 0, commit: 0, chunks: 0 };

  constructor(
    private readonly fileId: string,
    private readonly manifest: Manifest,
    private readonly scheduler: DownloadScheduler,
    private readonly pool: HolderPool,
    private readonly deps: ChunkFetcherDeps,
    private readonly owner: ChunkFetcherOwner,
  ) {}

  /** Give every holder as much work as its pipeline takes; fail when nothing can move any more. */
  fill(): void {
    const s = this.scheduler;
    if (this.owner.ended) return;
    if (s.isDone()) return this.owner.finish();
    for (const h of this.pool.holders.values()) {
      if (!h.admitted) continue;
      for (let i = s.next(h.nodeId); i !== undefined; i = s.next(h.nodeId)) this.track(this.fetchChunk(h, i));
      // Endgame: the last chunks are also asked of a second holder; the first to arrive wins.
      const chunk = this.manifest.chunkSize;
      const eligible = (i: number) => {
        const slot = this.slots.get(i);
        // Only when every request for it can be abandoned, so no late byte lands in the lease.
        return !!slot && !slot.winner && [...slot.attempts].every((a) => a.id !== undefined);
      };
      while (this.duplicateBytes + chunk <= Math.max(chunk, MAX_DUPLICATE_BYTES)) {
        const i = s.nextDuplicate(h.nodeId, eligible);
        if (i === undefined) break;
        this.duplicate(this.slots.get(i)!, h);
      }
    }
    if (!s.canProgress() && this.pool.connecting === 0 && this.retrying === 0 && !this.pool.searching) {
      this.owner.finish(
        new SwarmError('UNAVAILABLE', `${s.missingCount()} of ${s.chunkCount} chunks of ${short(this.fileId)} are missing and no holder that has them is left (${this.pool.reasons()})`),
      );
    }
  }

  /** The job is over: no more deferral fills; resolves when every chunk in flight has given its lease back. */
  async stop(): Promise<void> {
    clearTimeout(this.deferralTimer);
    await Promise.allSettled([...this.fetches]);
  }

  private track(p: Promise<void>): void {
    this.fetches.add(p);
    void p.finally(() => this.fetches.delete(p));
  }

  private async fetchChunk(h: Holder, index: number): Promise<void> {
    const s = this.scheduler;
    const m = this.manifest;
    const length = chunkLength(m.size, m.chunkSize, index);
    let region: WriteRegion;
    const t0 = performance.now();
    try {
      // The write lease comes first, so the PIECE streams straight into the mapped region.
      region = await this.deps.regions.openWrite(this.fileId, index);
    } catch (e) {
      return this.localFailure(h, index, length, e);
    }
    const leased = writeRegionLength(region);
    if (leased !== length) {
      await region.abandon();
      s.requeue(h.nodeId, index);
      return this.owner.finish(new SwarmError('INTERNAL', `the chunk-store leased ${leased} bytes for chunk ${index}, the manifest says ${length}`));
    }
    let settle!: (a: Attempt | undefined) => void;
    const outcome = new Promise<Attempt | undefined>((r) => (settle = r));
    const slot: Slot = { index, length, region, attempts: new Set(), settle };
    this.slots.set(index, slot);
    const t1 = performance.now();
    void this.attempt(slot, h);
    const winner = await outcome;
    const t2 = performance.now();
    this.slots.delete(index);
    if (!winner) {
      // Every request failed: the lease goes back before the chunk may be assigned again.
      await region.abandon();
      s.requeue(slot.lastFailed!.holder.nodeId, index);
      return this.fill();
    }
    // A duplicate won: its bytes go into the lease (the original can no longer write there).
    if (winner.buf) writeIntoRegion(region, winner.buf, 0);
    try {
      await region.commit(length);
    } catch (e) {
      s.requeue(winner.holder.nodeId, index);
      const code = (e as SwarmError).code;
      if (code === 'HASH_MISMATCH') this.pool.corrupt(winner.holder, index);
      else return this.localFailure(winner.holder, index, length, e, true);
      return this.fill();
    }
    s.completed(winner.holder.nodeId, index);
    this.timing.lease += t1 - t0;
    this.timing.wire += t2 - t1;
    this.timing.commit += performance.now() - t2;
    this.timing.chunks++;
    if (this.owner.ended) return;
    const from = winner.holder;
    from.bytes += length;
    from.chunks = (from.chunks ?? 0) + 1;
    this.owner.chunkDone(length, from);
    this.fill();
  }

  /** Endgame: ask `h` for a chunk already in flight elsewhere, into a private buffer. */
  private duplicate(slot: Slot, h: Holder): void {
    this.duplicateBytes += slot.length;
    const buf = Buffer.allocUnsafe(slot.length);
    void this.attempt(slot, h, buf).finally(() => (this.duplicateBytes -= slot.length));
  }

  /** One request for the slot's chunk; the first to succeed wins, the others are abandoned. */
  private async attempt(slot: Slot, h: Holder, dupBuf?: Buffer): Promise<void> {
    const a: Attempt = { holder: h, abandoned: false, buf: dupBuf };
    slot.attempts.add(a);
    let received: number;
    try {
      if (this.deps.downloadLimit) await this.deps.downloadLimit.take(slot.length);
      if (this.owner.ended) throw new PeerClosedError('download ended');
      if (a.abandoned) return;
      if (h.sent++ === 0) h.lastProgress = performance.now();
      this.requested++;
      try {
        const region = slot.region;
        // A region that can pwrite gets the bytes straight from the socket into the chunk's file,
        // no mapping touched; a duplicate receives into its own buffer.
        const target = dupBuf ?? (region.write ? { length: slot.length, write: (b: Buffer, at: number) => region.write!(b, at) } : region.data);
        const r = h.link.sendRequest(this.fileId, slot.index, target);
        a.id = r.id;
        received = await r.done;
      } finally {
        h.sent--;
      }
    } catch (e) {
      slot.attempts.delete(a);
      if (a.abandoned) return; // we gave it up: the winner settled the slot
      if (slot.attempts.size > 0 || slot.winner) this.scheduler.requeue(h.nodeId, slot.index);
      else slot.lastFailed = a;
      if (e instanceof PeerRequestError && e.code === 'TRY_PEERS') {
        // Super-seeding: the holder just sent this chunk to another peer; get it from the peers.
        // Not a lack (the chunk stays available here) and not a stall (the holder answered).
        h.lastProgress = performance.now();
        this.tryPeersRefusals++;
        this.deferAt(h, slot.index);
      } else if (e instanceof PeerRequestError) {
        // The holder answered ERROR{id}: it cannot serve this chunk after all; others may.
        this.deps.logger?.info({ fileId: this.fileId, holder: h.nodeId, index: slot.index, code: e.code }, 'holder could not serve a chunk');
        this.scheduler.lacks(h.nodeId, slot.index);
      } else {
        this.pool.drop(h.nodeId, (e as Error).message);
      }
      if (slot.attempts.size === 0 && !slot.winner) slot.settle(undefined);
      else this.fill();
      return;
    }
    slot.attempts.delete(a);
    this.pool.delivered(h, received);
    if (a.abandoned || slot.winner) return;
    slot.winner = a;
    for (const other of slot.attempts) {
      other.abandoned = true;
      if (other.id !== undefined) other.holder.link.abandonRequest(other.id);
      this.scheduler.requeue(other.holder.nodeId, slot.index);
      this.cancelledDuplicates++;
    }
    slot.attempts.clear();
    slot.settle(a);
  }

  /** Not asked of this holder again for a while; a timer fills then, in case nothing else does. */
  private deferAt(h: Holder, index: number): void {
    this.scheduler.defer(h.nodeId, index, performance.now() + (this.deps.tryPeersDeferMs ?? TRY_PEERS_DEFER_MS));
    this.armDeferralTimer();
  }

  private armDeferralTimer(): void {
    if (this.deferralTimer || this.owner.ended) return;
    const due = this.scheduler.nextDeferralExpiry();
    if (due === undefined) return;
    this.deferralTimer = setTimeout(
      () => {
        this.deferralTimer = undefined;
        this.fill();
        this.armDeferralTimer();
      },
      Math.max(1, due - performance.now()),
    );
    this.deferralTimer.unref();
  }

  /** The local store refused or failed: CONFLICT means someone stored the chunk meanwhile; else back off and retry. */
  private async localFailure(h: Holder, index: number, length: number, e: unknown, requeued = false): Promise<void> {
    const s = this.scheduler;
    const code = (e as SwarmError).code;
    if (code === 'CONFLICT') {
      s.completed(h.nodeId, index);
      if (!this.owner.ended) this.owner.chunkDone(length);
      return this.fill();
    }
    const n = (this.localFailures.get(index) ?? 0) + 1;
    this.localFailures.set(index, n);
    const lockedSince = code === 'LOCKED' ? (this.lockedSince.get(index) ?? performance.now()) : undefined;
    if (lockedSince !== undefined) this.lockedSince.set(index, lockedSince);
    const giveUp = lockedSince !== undefined ? performance.now() - lockedSince > LOCKED_RETRY_MS : n > MAX_LOCAL_RETRIES;
    if (giveUp) {
      if (!requeued) s.requeue(h.nodeId, index);
      return this.owner.finish(new SwarmError(code ?? 'INTERNAL', `the local chunk-store keeps failing on chunk ${index}: ${(e as Error).message}`));
    }
    this.retrying++;
    await new Promise((r) => setTimeout(r, Math.min(1000, (this.deps.retryDelayMs ?? 200) * n)));
    this.retrying--;
    if (!requeued) s.requeue(h.nodeId, index);
    this.fill();
  }
}
