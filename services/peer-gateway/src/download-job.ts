import {
  Bitfield,
  chunkLength,
  HAVE_UPDATES_FEATURE,
  type ChunkSink,
  type DiscoverMode,
  type DownloadStatus,
  type FileRecord,
  type FoundHolder,
  type Logger,
  type Manifest,
  manifestIsConsistent,
  MAX_REQUESTS_IN_FLIGHT,
  PeerClosedError,
  type PeerRef,
  PeerRequestError,
  SwarmError,
  type WriteRegion,
  writeIntoRegion,
  writeRegionLength,
} from '@swarmshare/common';
import type { ChunkStoreClient } from './chunk-store.client';
import { DownloadScheduler } from './download-scheduler';
import type { TrackerClient } from './tracker.client';
import { RateEstimator, pipelineDepth, requestTimeoutMs } from './rate-estimator';
import type { TokenBucket } from './token-bucket';

/** What a download needs from a connection to a holder (PeerConnection provides it). */
export interface HolderLink {
  readonly closed: Promise<string>;
  manifest(fileId: string): Promise<Manifest>;
  have(fileId: string): Promise<{ chunkCount: number; bitfield: Bitfield }>;
  /** Fetch one chunk straight into `target`; resolves with the bytes received. */
  requestChunk(fileId: string, index: number, target: Buffer): Promise<number>;
  /** Like requestChunk, with the request id, so the request can be abandoned (endgame). */
  sendRequest?(fileId: string, index: number, target: Buffer): { id: number; done: Promise<number> };
  /** Like sendRequest, with the bytes going to a sink (pwrite into the chunk's file). */
  sendRequestTo?(fileId: string, index: number, sink: ChunkSink): { id: number; done: Promise<number> };
  /** Give up on request `id`: it rejects at once and no more of its bytes touch its target. */
  abandonRequest?(id: number): void;
  close(reason?: string): void;
  /** Download ack (RECEIPT, issue 3): tell the holder what we got from it; false if it does not take receipts. */
  receipt?(fileId: string, bytes: number, chunks: number): Promise<boolean>;
  /** Have-updates: hear the chunks the holder stores after its HAVE; returns the unsubscribe function. */
  onHaveUpdate?(listener: (fileId: string, indexes: number[]) => void): () => void;
  /** The holder's HELLO (its features say whether it sends have-updates). */
  readonly remote?: { features: readonly string[] };
}

/**
 * Holders found over time by something other than the tracker (trackerless discovery). The job
 * dials each as it is reported and does not give up on missing chunks while a search runs.
 */
export interface HolderSource {
  readonly mode: DiscoverMode;
  /** Report holders as they turn up; resolves when the search is over. */
  search(report: (holder: PeerRef, found: FoundHolder) => void): Promise<void>;
  /** The download is complete or stopped: stop looking, refuse later offers. */
  stop(): void;
}

export interface DownloadJobDeps {
  /** Find holders through this instead of the tracker (the tracker is then only told, best effort). */
  holderSource?: HolderSource;
  nodeId: string;
  tracker: Pick<TrackerClient, 'getFile' | 'downloadStarted' | 'downloadCompleted'>;
  store: Pick<ChunkStoreClient, 'create' | 'have'> & Partial<Pick<ChunkStoreClient, 'manifest'>>;
  regions: { openWrite(fileId: string, index: number): Promise<WriteRegion> };
  connect(address: string, nodeId: string): Promise<HolderLink>;
  /** Called on every change; `final` once, when the job completes or fails. */
  onProgress(status: DownloadStatus, final: boolean): void;
  pipelineDepth: number;
  maxPeers: number;
  logger?: Logger;
  random?: () => number;
  /** Back-off base when the local store refuses a lease (LOCKED, briefly unavailable). */
  retryDelayMs?: number;
  /**
   * A holder that delivers nothing for this long while it has requests outstanding is stalled and
   * dropped; its reservations go to the others. Default: scaled with the chunk size (requestTimeoutMs).
   */
  chunkTimeoutMs?: number;
  /** Node-wide download bandwidth limit (DOWNLOAD_RATE_LIMIT); unset or rate 0 = off. */
  downloadLimit?: TokenBucket;
  /** How often connected holders are asked for a fresh HAVE (leechers gain chunks); 0 = never. */
  haveRefreshMs?: number;
  /** Endgame starts when at most this many chunks are missing (default: 5% of the file, 4 to 32). */
  endgameChunks?: number;
  /** A chunk a holder refused with TRY_PEERS (super-seeding) is not asked of it again for this long (default 1000 ms). */
  tryPeersDeferMs?: number;
}

interface Holder {
  nodeId: string;
  address: string;
  link: HolderLink;
  bytes: number;
  /** Verified chunks it delivered (for its RECEIPT). */
  chunks?: number;
  /** In the scheduler (its HAVE arrived). */
  admitted: boolean;
  /** Measured delivery rate, sizes its pipeline. */
  rate: RateEstimator;
  /** Requests sent and not yet answered. */
  sent: number;
  /** When it last delivered a chunk (or got its first outstanding request): the stall clock. */
  lastProgress: number;
  refreshing?: boolean;
  /** Unsubscribes from its have-updates. */
  stopUpdates?: () => void;
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
/** How long a holder gets to ack a RECEIPT (it asks the tracker first). */
const RECEIPT_TIMEOUT_MS = 5000;
/** Anonymous memory allowed for endgame duplicates' private buffers (at least one chunk). */
const MAX_DUPLICATE_BYTES = 16 * 1024 * 1024;
/** Pipeline sizing: about two seconds of each holder's measured rate (the issue asks for 1 to 3). */
const PIPELINE_SECONDS = 2;
/** Requests kept free on a link for HAVE/MANIFEST under the protocol's in-flight limit. */
const LINK_HEADROOM = 4;
/**
 * How long a chunk refused with TRY_PEERS is not asked of that holder again. Its first receiver
 * usually announces it well within this; if not (it died), the holder serves it after its window.
 */
const TRY_PEERS_DEFER_MS = 1000;
/** A holder that sends have-updates is asked for a full HAVE only every this many refreshes (a fallback). */
const UPDATING_HOLDER_POLL_EVERY = 4;

/**
 * One "fetch": find holders through the tracker, get and verify the manifest from one of them,
 * then pull chunks from several at once (DownloadScheduler decides which) straight into write
 * leases. The chunk-store verifies each chunk on close; a holder that serves a bad chunk, lies
 * about the manifest, or dies is dropped and its chunks go to the others.
 */
export class DownloadJob {
  readonly status: DownloadStatus;
  private readonly holders = new Map<string, Holder>();
  /** Dropped holders, kept for the bytes they delivered. */
  private readonly formerHolders: Holder[] = [];
  private candidates: PeerRef[] = [];
  private readonly dropped: string[] = [];
  private readonly fetches = new Set<Promise<void>>();
  private readonly localFailures = new Map<number, number>();
  private scheduler?: DownloadScheduler;
  /** Chunks being fetched, by index. */
  private readonly slots = new Map<number, Slot>();
  private duplicateBytes = 0;
  /** Endgame duplicates that lost the race and were cancelled (status and tests). */
  cancelledDuplicates = 0;
  /** Chunks requested from holders, endgame duplicates included (tests compare it with what was missing). */
  requested = 0;
  /** Requests a holder refused with TRY_PEERS (super-seeding); each chunk then came from another peer. */
  tryPeersRefusals = 0;
  private timers: NodeJS.Timeout[] = [];
  /** Fills again when the earliest TRY_PEERS deferral expires (nothing else may be due then). */
  private deferralTimer?: NodeJS.Timeout;
  /** Where a chunk's time goes (summed over chunks, ms), logged at the end: lease, wire, verify+sync. */
  readonly timing = { lease: 0, wire: 0, commit: 0, chunks: 0 };
  private lastTrackerPoll = 0;
  private refreshRound = 0;
  /** A HolderSource search is still running: more holders may come. */
  private searching = false;
  private onCandidate: () => void = () => undefined;
  private manifest?: Manifest;
  private connecting = 0;
  private retrying = 0;
  private finished = false;
  private finish: (err?: Error) => void = () => undefined;
  private cancelled?: Error;
  private running?: Promise<void>;
  /** Rejects on cancel, so a job stuck in a slow request (tracker, store) stops at once. */
  private readonly cancelSignal: Promise<never>;
  private rejectCancel!: (e: Error) => void;

  constructor(
    readonly fileId: string,
    private readonly deps: DownloadJobDeps,
  ) {
    this.status = { fileId, state: 'queued', chunkCount: 0, chunksDone: 0, bytesDone: 0, size: 0, fromPeers: {} };
    this.cancelSignal = new Promise<never>((_, reject) => (this.rejectCancel = reject));
    this.cancelSignal.catch(() => undefined);
  }

  /** Runs the download; resolves when it is complete or failed (see status), never rejects. */
  start(): Promise<void> {
    this.running ??= this.run();
    return this.running;
  }

  /** Stop (shutdown): in-flight write leases are abandoned before this resolves. */
  async cancel(reason: string): Promise<void> {
    this.cancelled = new SwarmError('UNAVAILABLE', reason);
    this.rejectCancel(this.cancelled);
    this.finish(this.cancelled);
    for (const h of this.holders.values()) h.link.close(reason);
    await this.running;
  }

  private async run(): Promise<void> {
    this.status.state = 'running';
    this.report();
    try {
      const work = this.download();
      work.catch(() => undefined); // after a cancel it may still fail later: nobody is waiting
      await Promise.race([work, this.cancelSignal]);
      this.status.state = 'complete';
    } catch (e) {
      this.status.state = 'failed';
      this.status.error = (e as Error).message;
      this.deps.logger?.warn({ fileId: this.fileId, err: this.status.error }, 'download failed');
    } finally {
      this.finished = true;
      for (const t of this.timers) clearInterval(t);
      clearTimeout(this.deferralTimer);
      this.deps.holderSource?.stop();
      for (const h of this.holders.values()) h.link.close(this.status.state === 'complete' ? 'download complete' : 'download stopped');
      // Chunks still in flight give their leases back (their links just closed) before we report.
      await Promise.allSettled([...this.fetches]);
    }
    this.report(true);
  }

  /**
   * Download acks (issue 3): each connected holder that served chunks gets a RECEIPT, and acks the
   * tracker itself. Best effort and bounded: downloadCompleted below records the download anyway.
   */
  private async sendReceipts(): Promise<void> {
    const acks = [...this.holders.values()]
      .filter((h) => h.bytes > 0 && h.link.receipt)
      .map((h) =>
        Promise.race([h.link.receipt!(this.fileId, h.bytes, h.chunks ?? 0), new Promise((r) => setTimeout(r, RECEIPT_TIMEOUT_MS).unref())]).catch((e) =>
          this.deps.logger?.warn({ holder: h.nodeId, err: (e as Error).message }, 'holder did not take the receipt'),
        ),
      );
    await Promise.all(acks);
  }

  private async download(): Promise<void> {
    // A file this node already holds in full is not downloaded again, nor counted as a download.
    if (await this.alreadyHeld()) return;
    if (this.deps.holderSource) {
      await this.startSearch(this.deps.holderSource);
    } else {
      const record = await this.deps.tracker.getFile(this.fileId);
      this.status.size = record.size;
      this.status.chunkCount = record.chunkCount;
      this.candidates = holdersOf(record, this.deps.nodeId);
    }
    if (this.candidates.length === 0 && this.deps.holderSource) {
      throw new SwarmError('UNAVAILABLE', `${this.deps.holderSource.mode} discovery found no holder of ${short(this.fileId)} (${this.reasons()})`);
    }
    if (this.candidates.length === 0) {
      throw new SwarmError('UNAVAILABLE', `no peer holding file ${short(this.fileId)} can be reached: the tracker lists no live holder with an address`);
    }
    this.deps.tracker.downloadStarted(this.fileId, this.deps.nodeId).catch((e) => this.deps.logger?.warn({ err: (e as Error).message }, 'tracker did not take downloadStarted'));

    while (this.holders.size === 0 && this.candidates.length > 0) {
      const batch = this.candidates.splice(0, this.deps.maxPeers);
      await Promise.all(batch.map((c) => this.connectHolder(c)));
      this.checkCancelled();
    }
    const manifest = await this.fetchManifest();
    this.manifest = manifest;
    await this.deps.store.create(manifest);
    const local = await this.deps.store.have(this.fileId);
    const present = Bitfield.fromBase64(local.chunkCount, local.bitfield);
    this.status.size = manifest.size;
    this.status.chunkCount = manifest.hashes.length;
    this.status.chunksDone = present.count();
    this.status.bytesDone = present.indexes().reduce((n, i) => n + chunkLength(manifest.size, manifest.chunkSize, i), 0);
    // Endgame covers the last 5% of the chunks (4 to 32): more would just double the traffic of small files.
    const endgame = this.deps.endgameChunks ?? Math.min(32, Math.max(4, Math.ceil(manifest.hashes.length * 0.05)));
    this.scheduler = new DownloadScheduler(manifest.hashes.length, present, this.cap(), this.deps.random, endgame);
    this.report();
    this.startTimers();

    if (!this.scheduler.isDone()) {
      await Promise.all([...this.holders.values()].map((h) => this.admit(h)));
      this.checkCancelled();
      await new Promise<void>((resolve, reject) => {
        this.finish = (err) => {
          if (this.finished) return;
          this.finished = true;
          if (err) reject(err);
          else resolve();
        };
        this.fill();
      });
    }
    const t = this.timing;
    const avg = (ms: number) => (t.chunks ? Math.round((ms / t.chunks) * 10) / 10 : 0);
    this.deps.logger?.info({ fileId: this.fileId, chunks: t.chunks, leaseMs: avg(t.lease), wireMs: avg(t.wire), commitMs: avg(t.commit), duplicatesCancelled: this.cancelledDuplicates, tryPeersRefusals: this.tryPeersRefusals }, 'download timing (mean per chunk)');
    const from = [...this.holders.values(), ...this.formerHolders].filter((h) => h.bytes > 0).map((h) => ({ nodeId: h.nodeId, bytes: h.bytes }));
    await this.sendReceipts();
    const told = this.deps.tracker
      .downloadCompleted({ fileId: this.fileId, nodeId: this.deps.nodeId, from })
      .catch((e) => this.deps.logger?.warn({ err: (e as Error).message }, 'tracker did not take downloadCompleted'));
    // Found without the tracker: it may be down, so it is told without waiting for it.
    if (!this.deps.holderSource || this.status.discovery?.mode === 'tracker') await told;
  }

  /** True (and the status says so) when the local store holds every chunk of the file already. */
  private async alreadyHeld(): Promise<boolean> {
    const local = await this.deps.store.have(this.fileId).catch(() => undefined);
    if (!local || typeof local.chunkCount !== 'number' || local.present !== local.chunkCount) return false;
    const manifest = await this.deps.store.manifest?.(this.fileId).catch(() => undefined);
    if (!manifest) return false;
    Object.assign(this.status, { size: manifest.size, chunkCount: local.chunkCount, chunksDone: local.chunkCount, bytesDone: manifest.size, alreadyHeld: true });
    this.deps.logger?.info({ fileId: this.fileId }, 'file already held in full: nothing to download');
    return true;
  }

  /** Run the holder search; resolves once it reported a first holder, or ended without one. */
  private async startSearch(src: HolderSource): Promise<void> {
    this.status.discovery = { mode: src.mode, holders: [] };
    this.searching = true;
    const search = src
      .search((ref, found) => {
        if (ref.nodeId === this.deps.nodeId || this.holders.has(ref.nodeId) || this.candidates.some((c) => c.nodeId === ref.nodeId)) return;
        if (this.status.discovery) {
          this.status.discovery.mode = found.via;
          this.status.discovery.holders.push(found);
        }
        this.candidates.push(ref);
        this.onCandidate();
        if (this.scheduler && !this.finished) void this.replenish();
      })
      .catch((e) => this.dropped.push(`${src.mode} discovery failed: ${(e as Error).message}`))
      .finally(() => {
        this.searching = false;
        this.onCandidate();
        this.fill();
      });
    await Promise.race([this.nextCandidate(), this.cancelSignal]);
    void search;
  }

  /** Resolves when a candidate is queued, or at once if there is one or no search runs. */
  private nextCandidate(): Promise<void> {
    if (this.candidates.length > 0 || !this.searching) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.onCandidate = () => {
        this.onCandidate = () => undefined;
        resolve();
      };
    });
  }

  private checkCancelled(): void {
    if (this.cancelled) throw this.cancelled;
  }

  private async connectHolder(ref: PeerRef): Promise<Holder | undefined> {
    try {
      const link = await this.deps.connect(ref.address!, ref.nodeId);
      if (this.finished || this.cancelled) {
        link.close('download ended');
        return undefined;
      }
      const h: Holder = { nodeId: ref.nodeId, address: ref.address!, link, bytes: 0, admitted: false, rate: new RateEstimator(), sent: 0, lastProgress: performance.now() };
      this.holders.set(h.nodeId, h);
      void link.closed.then((reason) => this.drop(h.nodeId, `connection closed: ${reason}`));
      return h;
    } catch (e) {
      this.dropped.push(`${ref.nodeId} (${ref.address}): ${(e as Error).message}`);
      return undefined;
    }
  }

  /** The first holder whose manifest has the right id and matches it; a holder that lies is dropped. */
  private async fetchManifest(): Promise<Manifest> {
    const asked = new Set<string>();
    for (;;) {
      this.checkCancelled();
      const h = [...this.holders.values()].find((x) => !asked.has(x.nodeId));
      if (!h) {
        if (this.candidates.length === 0 && this.searching) {
          await Promise.race([this.nextCandidate(), this.cancelSignal]);
          continue;
        }
        if (this.candidates.length === 0) throw new SwarmError('UNAVAILABLE', `no holder of ${short(this.fileId)} served a valid manifest (${this.reasons()})`);
        const room = Math.max(1, this.deps.maxPeers - this.holders.size);
        await Promise.all(this.candidates.splice(0, room).map((c) => this.connectHolder(c)));
        continue;
      }
      asked.add(h.nodeId);
      try {
        const m = await h.link.manifest(this.fileId);
        if (m.fileId === this.fileId && manifestIsConsistent(m)) return m;
        this.drop(h.nodeId, 'served a manifest that does not match the file id');
      } catch (e) {
        this.drop(h.nodeId, `no manifest: ${(e as Error).message}`);
      }
    }
  }

  /** HAVE from one holder, then it joins the scheduler. */
  private async admit(h: Holder): Promise<void> {
    const count = this.manifest!.hashes.length;
    try {
      const have = await h.link.have(this.fileId);
      if (!this.holders.has(h.nodeId)) return;
      if (have.chunkCount !== count) return this.drop(h.nodeId, `HAVE lists ${have.chunkCount} chunks, the file has ${count}`);
      // A holder with nothing yet is kept when HAVEs are refreshed: it is a leecher that will have chunks.
      if (have.bitfield.count() === 0 && !(this.deps.haveRefreshMs ?? 0)) return this.drop(h.nodeId, 'has no chunk of the file');
      this.scheduler!.addHolder(h.nodeId, have.bitfield);
      this.scheduler!.setDepth(h.nodeId, this.depthFor(h));
      h.admitted = true;
      h.stopUpdates = h.link.onHaveUpdate?.((fileId, indexes) => this.onHaveUpdate(h, fileId, indexes));
      this.status.fromPeers[h.nodeId] ??= 0;
    } catch (e) {
      this.drop(h.nodeId, `no HAVE: ${(e as Error).message}`);
    }
  }

  /** A holder stored chunks since its HAVE: they count at once, instead of at the next HAVE refresh. */
  private onHaveUpdate(h: Holder, fileId: string, indexes: number[]): void {
    if (fileId !== this.fileId || this.finished || this.holders.get(h.nodeId) !== h) return;
    this.scheduler!.addChunks(h.nodeId, indexes);
    this.fill();
  }

  /** Give every holder as much work as its pipeline takes; fail when nothing can move any more. */
  private fill(): void {
    const s = this.scheduler;
    if (!s || this.finished) return;
    if (s.isDone()) return this.finish();
    for (const h of this.holders.values()) {
      if (!h.admitted) continue;
      for (let i = s.next(h.nodeId); i !== undefined; i = s.next(h.nodeId)) this.track(this.fetchChunk(h, i));
      // Endgame: the last chunks are also asked of a second holder; the first to arrive wins.
      if (!h.link.sendRequest || !h.link.abandonRequest) continue;
      const chunk = this.manifest!.chunkSize;
      const eligible = (i: number) => {
        const slot = this.slots.get(i);
        // Only when every request for it can be abandoned, so no late byte lands in the lease.
        return !!slot && !slot.winner && [...slot.attempts].every((a) => a.id !== undefined && !!a.holder.link.abandonRequest);
      };
      while (this.duplicateBytes + chunk <= Math.max(chunk, MAX_DUPLICATE_BYTES)) {
        const i = s.nextDuplicate(h.nodeId, eligible);
        if (i === undefined) break;
        this.duplicate(this.slots.get(i)!, h);
      }
    }
    if (!s.canProgress() && this.connecting === 0 && this.retrying === 0 && !this.searching) {
      this.finish(
        new SwarmError('UNAVAILABLE', `${s.missingCount()} of ${s.chunkCount} chunks of ${short(this.fileId)} are missing and no holder that has them is left (${this.reasons()})`),
      );
    }
  }

  private track(p: Promise<void>): void {
    this.fetches.add(p);
    void p.finally(() => this.fetches.delete(p));
  }

  private async fetchChunk(h: Holder, index: number): Promise<void> {
    const s = this.scheduler!;
    const m = this.manifest!;
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
      return this.finish(new SwarmError('INTERNAL', `the chunk-store leased ${leased} bytes for chunk ${index}, the manifest says ${length}`));
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
      if (code === 'HASH_MISMATCH') this.drop(winner.holder.nodeId, `served a corrupt chunk ${index}`);
      else return this.localFailure(winner.holder, index, length, e, true);
      return this.fill();
    }
    s.completed(winner.holder.nodeId, index);
    this.timing.lease += t1 - t0;
    this.timing.wire += t2 - t1;
    this.timing.commit += performance.now() - t2;
    this.timing.chunks++;
    if (this.finished) return;
    const from = winner.holder;
    from.bytes += length;
    from.chunks = (from.chunks ?? 0) + 1;
    this.status.fromPeers[from.nodeId] = from.bytes;
    this.status.bytesDone += length;
    this.status.chunksDone++;
    this.report();
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
      if (this.finished) throw new PeerClosedError('download ended');
      if (a.abandoned) return;
      if (h.sent++ === 0) h.lastProgress = performance.now();
      this.requested++;
      try {
        const region = slot.region;
        if (!dupBuf && region.write && h.link.sendRequestTo) {
          // Straight from the socket into the chunk's file (pwrite), no mapping touched.
          const r = h.link.sendRequestTo(this.fileId, slot.index, { length: slot.length, write: (b, at) => region.write!(b, at) });
          a.id = r.id;
          received = await r.done;
        } else if (h.link.sendRequest) {
          const r = h.link.sendRequest(this.fileId, slot.index, dupBuf ?? region.data);
          a.id = r.id;
          received = await r.done;
        } else {
          received = await h.link.requestChunk(this.fileId, slot.index, dupBuf ?? region.data);
        }
      } finally {
        h.sent--;
      }
    } catch (e) {
      slot.attempts.delete(a);
      if (a.abandoned) return; // we gave it up: the winner settled the slot
      if (slot.attempts.size > 0 || slot.winner) this.scheduler!.requeue(h.nodeId, slot.index);
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
        this.scheduler!.lacks(h.nodeId, slot.index);
      } else {
        this.drop(h.nodeId, (e as Error).message);
      }
      if (slot.attempts.size === 0 && !slot.winner) slot.settle(undefined);
      else this.fill();
      return;
    }
    slot.attempts.delete(a);
    h.lastProgress = performance.now();
    h.rate.record(received);
    this.scheduler!.setDepth(h.nodeId, this.depthFor(h));
    if (a.abandoned || slot.winner) return;
    slot.winner = a;
    for (const other of slot.attempts) {
      other.abandoned = true;
      if (other.id !== undefined) other.holder.link.abandonRequest?.(other.id);
      this.scheduler!.requeue(other.holder.nodeId, slot.index);
      this.cancelledDuplicates++;
    }
    slot.attempts.clear();
    slot.settle(a);
  }

  /** Not asked of this holder again for a while; a timer fills then, in case nothing else does. */
  private deferAt(h: Holder, index: number): void {
    const s = this.scheduler!;
    s.defer(h.nodeId, index, performance.now() + (this.deps.tryPeersDeferMs ?? TRY_PEERS_DEFER_MS));
    this.armDeferralTimer();
  }

  private armDeferralTimer(): void {
    if (this.deferralTimer || this.finished) return;
    const due = this.scheduler?.nextDeferralExpiry();
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

  private cap(): number {
    return Math.max(1, Math.min(this.deps.pipelineDepth, MAX_REQUESTS_IN_FLIGHT - LINK_HEADROOM));
  }

  /** About PIPELINE_SECONDS of the holder's measured rate, within [2, PIPELINE_DEPTH]. */
  private depthFor(h: Holder): number {
    const cap = this.cap();
    return pipelineDepth(h.rate.rate(), this.manifest!.chunkSize, { targetSeconds: PIPELINE_SECONDS, min: Math.min(2, cap), max: cap, initial: Math.min(4, cap) });
  }

  /** The stall watchdog and the HAVE refresh run while chunks are being fetched. */
  private startTimers(): void {
    const m = this.manifest!;
    const stallMs = this.deps.chunkTimeoutMs ?? requestTimeoutMs(m.chunkSize);
    const watchdog = setInterval(() => this.checkStalls(stallMs), Math.max(10, Math.min(1000, stallMs / 4)));
    watchdog.unref();
    this.timers.push(watchdog);
    const every = this.deps.haveRefreshMs ?? 0;
    if (every > 0) {
      const refresh = setInterval(() => void this.refreshHaves(), every);
      refresh.unref();
      this.timers.push(refresh);
    }
  }

  /** A holder that has requests outstanding and delivered nothing within the timeout is stalled. */
  private checkStalls(stallMs: number): void {
    if (this.finished) return;
    const now = performance.now();
    for (const h of [...this.holders.values()]) {
      if (h.sent > 0 && now - h.lastProgress > stallMs) this.drop(h.nodeId, `stalled: no chunk delivered within ${stallMs} ms`);
    }
  }

  /** Fresh HAVEs (leechers gain chunks as they download) and, now and then, new holders from the tracker. */
  private async refreshHaves(): Promise<void> {
    const s = this.scheduler;
    if (!s || this.finished) return;
    const count = this.manifest!.hashes.length;
    const pollUpdating = ++this.refreshRound % UPDATING_HOLDER_POLL_EVERY === 0;
    await Promise.all(
      [...this.holders.values()].map(async (h) => {
        if (!h.admitted || h.refreshing) return;
        if (!pollUpdating && h.link.remote?.features.includes(HAVE_UPDATES_FEATURE)) return;
        h.refreshing = true;
        try {
          const have = await h.link.have(this.fileId);
          if (have.chunkCount === count && this.holders.has(h.nodeId)) s.updateHolder(h.nodeId, have.bitfield);
        } catch {
          /* a dead link is dropped by its close handler */
        } finally {
          h.refreshing = false;
        }
      }),
    );
    const now = performance.now();
    // New leechers come from the tracker (not in trackerless modes, where discovery reports holders).
    const viaTracker = !this.deps.holderSource || this.deps.holderSource.mode === 'tracker';
    if (viaTracker && this.holders.size < this.deps.maxPeers && now - this.lastTrackerPoll > (this.lastTrackerPoll ? 3 : 1) * (this.deps.haveRefreshMs ?? 1000)) {
      this.lastTrackerPoll = now;
      try {
        const record = await this.deps.tracker.getFile(this.fileId);
        const known = new Set([...this.holders.keys(), ...this.candidates.map((c) => c.nodeId), ...this.formerHolders.map((h) => h.nodeId)]);
        for (const ref of holdersOf(record, this.deps.nodeId)) if (!known.has(ref.nodeId)) this.candidates.push(ref);
        if (this.candidates.length > 0) void this.replenish();
      } catch {
        /* the tracker is optional here: we carry on with the holders we have */
      }
    }
    this.fill();
  }

  /** The local store refused or failed: CONFLICT means someone stored the chunk meanwhile; else back off and retry. */
  private async localFailure(h: Holder, index: number, length: number, e: unknown, requeued = false): Promise<void> {
    const s = this.scheduler!;
    const code = (e as SwarmError).code;
    if (code === 'CONFLICT') {
      s.completed(h.nodeId, index);
      if (!this.finished) {
        this.status.chunksDone++;
        this.status.bytesDone += length;
        this.report();
      }
      return this.fill();
    }
    const n = (this.localFailures.get(index) ?? 0) + 1;
    this.localFailures.set(index, n);
    if (n > MAX_LOCAL_RETRIES) {
      if (!requeued) s.requeue(h.nodeId, index);
      return this.finish(new SwarmError(code ?? 'INTERNAL', `the local chunk-store keeps failing on chunk ${index}: ${(e as Error).message}`));
    }
    this.retrying++;
    await new Promise((r) => setTimeout(r, (this.deps.retryDelayMs ?? 200) * n));
    this.retrying--;
    if (!requeued) s.requeue(h.nodeId, index);
    this.fill();
  }

  private drop(nodeId: string, reason: string): void {
    const h = this.holders.get(nodeId);
    if (!h) return;
    this.holders.delete(nodeId);
    this.formerHolders.push(h);
    if (!this.finished) {
      this.dropped.push(`${nodeId}: ${reason}`);
      this.deps.logger?.warn({ fileId: this.fileId, holder: nodeId, reason }, 'dropping holder');
    }
    // Its in-flight requests now fail, give their leases back and are re-queued one by one.
    h.stopUpdates?.();
    this.scheduler?.removeHolder(nodeId);
    h.link.close(reason);
    if (this.scheduler && !this.finished) void this.replenish();
    this.fill();
  }

  /** Replace dropped holders with candidates not tried yet. */
  private async replenish(): Promise<void> {
    while (!this.finished && this.holders.size + this.connecting < this.deps.maxPeers && this.candidates.length > 0) {
      const ref = this.candidates.shift()!;
      this.connecting++;
      try {
        const h = await this.connectHolder(ref);
        if (h) await this.admit(h);
      } finally {
        this.connecting--;
      }
      this.fill();
    }
  }

  private reasons(): string {
    return this.dropped.length ? this.dropped.join('; ') : 'no holder answered';
  }

  private report(final = false): void {
    try {
      this.deps.onProgress({ ...this.status, fromPeers: { ...this.status.fromPeers } }, final);
    } catch (e) {
      this.deps.logger?.debug({ err: (e as Error).message }, 'progress report failed');
    }
  }
}

/** Seeders first, then leechers (they may hold parts); only peers with an address, never ourselves. */
export function holdersOf(record: FileRecord, selfId: string): PeerRef[] {
  const seen = new Set<string>([selfId]);
  const out: PeerRef[] = [];
  for (const p of [...record.seeders, ...(record.partial ?? []), ...record.leechers]) {
    if (!p.address || seen.has(p.nodeId)) continue;
    seen.add(p.nodeId);
    out.push(p);
  }
  return out;
}

function short(fileId: string): string {
  return fileId.slice(0, 12);
}
