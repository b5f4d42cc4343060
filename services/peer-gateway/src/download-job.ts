import {
  Bitfield,
  type DownloadStatus,
  type FileRecord,
  type Logger,
  type Manifest,
  type PeerRef,
  SwarmError,
  chunkLength,
  manifestIsConsistent,
} from '@swarmshare/common';
import type { ChunkStoreClient } from './chunk-store.client';
import { DownloadScheduler } from './download-scheduler';
import { PeerClosedError, PeerRequestError } from '@swarmshare/common';
import type { WriteRegion } from '@swarmshare/common';
import type { TrackerClient } from './tracker.client';

/** What a download needs from a connection to a holder (PeerConnection provides it). */
export interface HolderLink {
  readonly closed: Promise<string>;
  manifest(fileId: string): Promise<Manifest>;
  have(fileId: string): Promise<{ chunkCount: number; bitfield: Bitfield }>;
  /** Fetch one chunk straight into `target`; resolves with the bytes received. */
  requestChunk(fileId: string, index: number, target: Buffer): Promise<number>;
  close(reason?: string): void;
}

export interface DownloadJobDeps {
  nodeId: string;
  tracker: Pick<TrackerClient, 'getFile' | 'downloadStarted' | 'downloadCompleted'>;
  store: Pick<ChunkStoreClient, 'create' | 'have'>;
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
  /** A holder that takes longer than this to deliver a requested chunk is dropped. */
  chunkTimeoutMs?: number;
}

interface Holder {
  nodeId: string;
  address: string;
  link: HolderLink;
  bytes: number;
  /** In the scheduler (its HAVE arrived). */
  admitted: boolean;
}

const MAX_LOCAL_RETRIES = 5;

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
      for (const h of this.holders.values()) h.link.close(this.status.state === 'complete' ? 'download complete' : 'download stopped');
      // Chunks still in flight give their leases back (their links just closed) before we report.
      await Promise.allSettled([...this.fetches]);
    }
    this.report(true);
  }

  private async download(): Promise<void> {
    const record = await this.deps.tracker.getFile(this.fileId);
    this.status.size = record.size;
    this.status.chunkCount = record.chunkCount;
    this.candidates = holdersOf(record, this.deps.nodeId);
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
    this.scheduler = new DownloadScheduler(manifest.hashes.length, present, this.deps.pipelineDepth, this.deps.random);
    this.report();

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
    const from = [...this.holders.values(), ...this.formerHolders].filter((h) => h.bytes > 0).map((h) => ({ nodeId: h.nodeId, bytes: h.bytes }));
    await this.deps.tracker
      .downloadCompleted({ fileId: this.fileId, nodeId: this.deps.nodeId, from })
      .catch((e) => this.deps.logger?.warn({ err: (e as Error).message }, 'tracker did not take downloadCompleted'));
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
      const h: Holder = { nodeId: ref.nodeId, address: ref.address!, link, bytes: 0, admitted: false };
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
      if (have.bitfield.count() === 0) return this.drop(h.nodeId, 'has no chunk of the file');
      this.scheduler!.addHolder(h.nodeId, have.bitfield);
      h.admitted = true;
      this.status.fromPeers[h.nodeId] ??= 0;
    } catch (e) {
      this.drop(h.nodeId, `no HAVE: ${(e as Error).message}`);
    }
  }

  /** Give every holder as much work as its pipeline takes; fail when nothing can move any more. */
  private fill(): void {
    const s = this.scheduler;
    if (!s || this.finished) return;
    if (s.isDone()) return this.finish();
    for (const h of this.holders.values()) {
      if (!h.admitted) continue;
      for (let i = s.next(h.nodeId); i !== undefined; i = s.next(h.nodeId)) this.track(this.fetchChunk(h, i));
    }
    if (!s.canProgress() && this.connecting === 0 && this.retrying === 0) {
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
    try {
      // The write lease comes first, so the PIECE streams straight into the mapped region.
      region = await this.deps.regions.openWrite(this.fileId, index);
    } catch (e) {
      return this.localFailure(h, index, length, e);
    }
    if (region.data.length !== length) {
      await region.abandon();
      s.requeue(h.nodeId, index);
      return this.finish(new SwarmError('INTERNAL', `the chunk-store leased ${region.data.length} bytes for chunk ${index}, the manifest says ${length}`));
    }
    let received: number;
    // A holder that stops answering is dropped, which fails its requests and frees their leases.
    const ms = this.deps.chunkTimeoutMs ?? 30_000;
    const timer = setTimeout(() => this.drop(h.nodeId, `no PIECE for chunk ${index} within ${ms} ms`), ms);
    try {
      if (this.finished) throw new PeerClosedError('download ended');
      received = await h.link.requestChunk(this.fileId, index, region.data);
      clearTimeout(timer);
    } catch (e) {
      clearTimeout(timer);
      await region.abandon();
      s.requeue(h.nodeId, index);
      if (e instanceof PeerRequestError) {
        // The holder answered ERROR{id}: it cannot serve this chunk after all; others may.
        this.deps.logger?.info({ fileId: this.fileId, holder: h.nodeId, index, code: e.code }, 'holder could not serve a chunk');
        s.lacks(h.nodeId, index);
      } else {
        this.drop(h.nodeId, (e as Error).message);
      }
      return this.fill();
    }
    try {
      await region.commit(received);
    } catch (e) {
      s.requeue(h.nodeId, index);
      const code = (e as SwarmError).code;
      if (code === 'HASH_MISMATCH') this.drop(h.nodeId, `served a corrupt chunk ${index}`);
      else return this.localFailure(h, index, length, e, true);
      return this.fill();
    }
    s.completed(h.nodeId, index);
    if (this.finished) return;
    h.bytes += received;
    this.status.fromPeers[h.nodeId] = h.bytes;
    this.status.bytesDone += received;
    this.status.chunksDone++;
    this.report();
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
  for (const p of [...record.seeders, ...record.leechers]) {
    if (!p.address || seen.has(p.nodeId)) continue;
    seen.add(p.nodeId);
    out.push(p);
  }
  return out;
}

function short(fileId: string): string {
  return fileId.slice(0, 12);
}
