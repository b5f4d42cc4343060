import {
  Bitfield,
  chunkLength,
  type DownloadStatus,
  type Logger,
  type Manifest,
  SwarmError,
} from '@swarmshare/common';
import type { ChunkStoreClient } from '../storage-io/chunk-store.client';
import { ChunkFetcher, type ChunkFetcherDeps } from './chunk-fetcher';
import { DownloadScheduler } from './download-scheduler';
import { type Holder, HolderPool, type HolderPoolDeps, type HolderSource, holdersOf, short } from './holder-pool';
import type { TrackerClient } from '../tracker/tracker.client';
import { requestTimeoutMs } from '../transport/rate-estimator';


export interface DownloadJobDeps extends HolderPoolDeps, ChunkFetcherDeps {
  /** Find holders through this instead of the tracker (the tracker is then only told, best effort). */
  holderSource?: HolderSource;
  tracker: Pick<TrackerClient, 'getFile' | 'downloadStarted' | 'downloadCompleted' | 'downloadStopped' | 'peerUnreachable'>;
  store: Pick<ChunkStoreClient, 'create' | 'have'> & Partial<Pick<ChunkStoreClient, 'manifest'>>;
  /** Called on every change; `final` once, when the job completes or fails. */
  onProgress(status: DownloadStatus, final: boolean): void;
  logger?: Logger;
  random?: () => number;
  /**
   * A holder that delivers nothing for this long while it has requests outstanding is stalled and
   * dropped; its reservations go to the others. Default: scaled with the chunk size (requestTimeoutMs).
   */
  chunkTimeoutMs?: number;
  /** Endgame starts when at most this many chunks are missing (default: 5% of the file, 4 to 32). */
  endgameChunks?: number;
  /** Re-fetching chunks found corrupt here: no receipts and no download counted (the node held the file already). */
  repair?: boolean;
}

/** How long a holder gets to ack a RECEIPT (it asks the tracker first). */
const RECEIPT_TIMEOUT_MS = 5000;

/**
 * One "fetch": find holders through the tracker, get and verify the manifest from one of them,
 * then pull chunks from several at once straight into write leases, and acknowledge them. The
 * holders are a HolderPool's, the chunks move through a ChunkFetcher; this job holds the manifest,
 * the status and its progress events, and the receipts at the end.
 */
export class DownloadJob {
  readonly status: DownloadStatus;
  private readonly pool: HolderPool;
  private fetcher?: ChunkFetcher;
  private finished = false;
  private finish: (err?: Error) => void = () => undefined;
  private cancelled?: Error;
  private running?: Promise<void>;
  /** Rejects on cancel, so a job stuck in a slow request (tracker, store) stops at once. */
  readonly cancelSignal: Promise<never>;
  private rejectCancel!: (e: Error) => void;

  constructor(
    readonly fileId: string,
    private readonly deps: DownloadJobDeps,
  ) {
    this.status = { fileId, state: 'queued', chunkCount: 0, chunksDone: 0, bytesDone: 0, size: 0, fromPeers: {} };
    this.cancelSignal = new Promise<never>((_, reject) => (this.rejectCancel = reject));
    this.cancelSignal.catch(() => undefined);
    const job = this;
    this.pool = new HolderPool(fileId, deps, {
      get ended() {
        return job.finished;
      },
      cancelSignal: this.cancelSignal,
      changed: () => this.fetcher?.fill(),
      admitted: (nodeId) => (this.status.fromPeers[nodeId] ??= 0),
    });
  }

  /** Endgame duplicates that lost the race and were cancelled (status and tests). */
  get cancelledDuplicates(): number {
    return this.fetcher?.cancelledDuplicates ?? 0;
  }

  /** Chunks requested from holders, endgame duplicates included (tests compare it with what was missing). */
  get requested(): number {
    return this.fetcher?.requested ?? 0;
  }

  /** Requests a holder refused with TRY_PEERS (super-seeding); each chunk then came from another peer. */
  get tryPeersRefusals(): number {
    return this.fetcher?.tryPeersRefusals ?? 0;
  }

  /** Runs the download; resolves when it is complete or failed (see status), never rejects. */
  start(): Promise<void> {
    this.running ??= this.run();
    return this.running;
  }

  /** Stop (shutdown, or a delete: CANCELLED): in-flight write leases are abandoned before this resolves. */
  async cancel(reason: string, code: 'UNAVAILABLE' | 'CANCELLED' = 'UNAVAILABLE'): Promise<void> {
    this.cancelled = new SwarmError(code, reason);
    this.rejectCancel(this.cancelled);
    this.finish(this.cancelled);
    this.pool.closeAll(reason);
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
      this.status.errorCode = e instanceof SwarmError ? e.code : 'INTERNAL';
      this.deps.logger?.warn({ fileId: this.fileId, err: this.status.error }, 'download failed');
      // Not a leecher any more, at once rather than when the tracker's view next expires.
      this.deps.tracker.downloadStopped(this.fileId, this.deps.nodeId).catch((err) => this.deps.logger?.debug?.({ err: (err as Error).message }, 'tracker did not take downloadStopped'));
    } finally {
      this.finished = true;
      this.pool.stop();
      this.deps.holderSource?.stop();
      this.pool.closeAll(this.status.state === 'complete' ? 'download complete' : 'download stopped');
      // Chunks still in flight give their leases back (their links just closed) before we report.
      await this.fetcher?.stop();
    }
    this.report(true);
  }

  /**
   * Download acks (issue 3): each connected holder that served chunks gets a RECEIPT, and acks the
   * tracker itself. Best effort and bounded: downloadCompleted below records the download anyway.
   */
  private async sendReceipts(): Promise<void> {
    const acks = [...this.pool.holders.values()]
      .filter((h) => h.bytes > 0)
      .map((h) =>
        Promise.race([h.link.receipt(this.fileId, h.bytes, h.chunks ?? 0), new Promise((r) => setTimeout(r, RECEIPT_TIMEOUT_MS).unref())]).catch((e) =>
          this.deps.logger?.warn({ holder: h.nodeId, err: (e as Error).message }, 'holder did not take the receipt'),
        ),
      );
    await Promise.all(acks);
  }

  private async download(): Promise<void> {
    // A file this node already holds in full is not downloaded again, nor counted as a download.
    if (await this.alreadyHeld()) return;
    const pool = this.pool;
    const src = this.deps.holderSource;
    if (src) {
      this.status.discovery = { mode: src.mode, holders: [] };
      await pool.startSearch(src, this.status.discovery);
    } else {
      const record = await this.deps.tracker.getFile(this.fileId);
      this.status.size = record.size;
      this.status.chunkCount = record.chunkCount;
      pool.candidates = holdersOf(record, this.deps.nodeId);
    }
    if (pool.candidates.length === 0 && src) {
      throw new SwarmError('UNAVAILABLE', `${src.mode} discovery found no holder of ${short(this.fileId)} (${pool.reasons()})`);
    }
    if (pool.candidates.length === 0) {
      throw new SwarmError('UNAVAILABLE', `no peer holding file ${short(this.fileId)} can be reached: the tracker lists no live holder with an address`);
    }
    this.deps.tracker.downloadStarted(this.fileId, this.deps.nodeId).catch((e) => this.deps.logger?.warn({ err: (e as Error).message }, 'tracker did not take downloadStarted'));

    await pool.connectFirst(() => this.checkCancelled());
    const manifest = await pool.fetchManifest(() => this.checkCancelled());
    await this.deps.store.create(manifest);
    const local = await this.deps.store.have(this.fileId);
    const present = Bitfield.fromBase64(local.chunkCount, local.bitfield);
    this.status.size = manifest.size;
    this.status.chunkCount = manifest.hashes.length;
    this.status.chunksDone = present.count();
    this.status.bytesDone = present.indexes().reduce((n, i) => n + chunkLength(manifest.size, manifest.chunkSize, i), 0);
    const scheduler = this.schedulerFor(manifest, present);
    const job = this;
    this.fetcher = new ChunkFetcher(this.fileId, manifest, scheduler, pool, this.deps, {
      get ended() {
        return job.finished;
      },
      finish: (err) => this.finish(err),
      chunkDone: (length, from) => this.chunkDone(length, from),
    });
    this.report();

    // Admits the holders (their HAVEs) unless every chunk is here already.
    await pool.startScheduling(manifest, scheduler, this.deps.chunkTimeoutMs ?? requestTimeoutMs(manifest.chunkSize));
    if (!scheduler.isDone()) {
      this.checkCancelled();
      await new Promise<void>((resolve, reject) => {
        this.finish = (err) => {
          if (this.finished) return;
          this.finished = true;
          if (err) reject(err);
          else resolve();
        };
        this.fetcher!.fill();
      });
    }
    const t = this.fetcher.timing;
    const avg = (ms: number) => (t.chunks ? Math.round((ms / t.chunks) * 10) / 10 : 0);
    this.deps.logger?.info({ fileId: this.fileId, chunks: t.chunks, leaseMs: avg(t.lease), wireMs: avg(t.wire), commitMs: avg(t.commit), duplicatesCancelled: this.cancelledDuplicates, tryPeersRefusals: this.tryPeersRefusals }, 'download timing (mean per chunk)');
    // A repair is upkeep of a file this node held: its next announce lists it complete again.
    if (this.deps.repair) return;
    const from = [...pool.holders.values(), ...pool.formerHolders].filter((h) => h.bytes > 0).map((h) => ({ nodeId: h.nodeId, bytes: h.bytes }));
    await this.sendReceipts();
    const told = this.deps.tracker
      .downloadCompleted({ fileId: this.fileId, nodeId: this.deps.nodeId, from })
      .catch((e) => this.deps.logger?.warn({ err: (e as Error).message }, 'tracker did not take downloadCompleted'));
    // Found without the tracker: it may be down, so it is told without waiting for it.
    if (!src || this.status.discovery?.mode === 'tracker') await told;
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

  /** Rarest first over what is not here yet; endgame covers the last 5% of the chunks (4 to 32): more would just double the traffic of small files. */
  private schedulerFor(manifest: Manifest, present: Bitfield): DownloadScheduler {
    const endgame = this.deps.endgameChunks ?? Math.min(32, Math.max(4, Math.ceil(manifest.hashes.length * 0.05)));
    return new DownloadScheduler(manifest.hashes.length, present, this.pool.cap(), this.deps.random, endgame);
  }

  /** A chunk is stored: delivered by `from`, or (unset) stored here by someone else meanwhile. */
  private chunkDone(length: number, from?: Holder): void {
    if (from) this.status.fromPeers[from.nodeId] = from.bytes;
    this.status.bytesDone += length;
    this.status.chunksDone++;
    this.report();
  }

  private checkCancelled(): void {
    if (this.cancelled) throw this.cancelled;
  }

  private report(final = false): void {
    try {
      this.deps.onProgress({ ...this.status, fromPeers: { ...this.status.fromPeers } }, final);
    } catch (e) {
      this.deps.logger?.debug({ err: (e as Error).message }, 'progress report failed');
    }
  }
}
