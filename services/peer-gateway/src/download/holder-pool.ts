import {
  type Bitfield,
  type ChunkSink,
  type DiscoverMode,
  type FileRecord,
  type FoundHolder,
  HAVE_UPDATES_FEATURE,
  type Logger,
  type Manifest,
  manifestIsConsistent,
  MAX_REQUESTS_IN_FLIGHT,
  type PeerRef,
  SwarmError,
} from '@swarmshare/common';
import type { DownloadScheduler } from './download-scheduler';
import type { TrackerClient } from '../tracker/tracker.client';
import { RateEstimator, pipelineDepth } from '../transport/rate-estimator';

/** What a download needs from a connection to a holder. PeerConnection provides it, and so must any test double. */
export interface HolderLink {
  readonly closed: Promise<string>;
  /** The holder's HELLO (its features say whether it sends have-updates); unset before the handshake. */
  readonly remote?: { features: readonly string[] };
  manifest(fileId: string): Promise<Manifest>;
  have(fileId: string): Promise<{ chunkCount: number; bitfield: Bitfield }>;
  /** Ask for one chunk, its bytes going into `target` (a Buffer, or a sink that pwrites them); resolves with the bytes received. */
  sendRequest(fileId: string, index: number, target: Buffer | ChunkSink): { id: number; done: Promise<number> };
  /** Give up on request `id`: it rejects at once and no more of its bytes touch its target. */
  abandonRequest(id: number): void;
  close(reason?: string): void;
  /** Download ack (RECEIPT): tell the holder what we got from it; false if it does not take receipts. */
  receipt(fileId: string, bytes: number, chunks: number): Promise<boolean>;
  /** Have-updates: hear the chunks the holder stores after its HAVE; returns the unsubscribe function. */
  onHaveUpdate(listener: (fileId: string, indexes: number[]) => void): () => void;
  /** CORRUPT: tell the holder a chunk it served failed its hash; false if it does not take notices. */
  reportCorrupt(fileId: string, index: number): boolean;
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

/** One connected holder of the file. */
export interface Holder {
  nodeId: string;
  address: string;
  link: HolderLink;
  bytes: number;
  /** Verified chunks it delivered (for its RECEIPT). */
  chunks?: number;
  /** Chunks it delivered that failed their hash. */
  corrupt?: number;
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

/** A holder that serves this many chunks that fail their hash is dropped for the rest of the download. */
export const MAX_CORRUPT_CHUNKS = 3;

export interface HolderPoolDeps {
  nodeId: string;
  tracker: Pick<TrackerClient, 'getFile' | 'peerUnreachable'>;
  connect(address: string, nodeId: string): Promise<HolderLink>;
  holderSource?: HolderSource;
  pipelineDepth: number;
  maxPeers: number;
  haveRefreshMs?: number;
  logger?: Logger;
}

/** What the pool needs from the job that owns it. */
export interface HolderPoolOwner {
  /** The job completed or stopped: new links are closed at once, drops are not reported. */
  readonly ended: boolean;
  /** Rejects when the job is cancelled, so a wait for a holder stops at once. */
  readonly cancelSignal: Promise<never>;
  /** Holders, or the chunks they have, changed: hand out work. */
  changed(): void;
  /** A holder was admitted: it now counts in the status. */
  admitted(nodeId: string): void;
}

/** Pipeline sizing: about two seconds of each holder's measured rate (the issue asks for 1 to 3). */
const PIPELINE_SECONDS = 2;
/** Requests kept free on a link for HAVE/MANIFEST under the protocol's in-flight limit. */
const LINK_HEADROOM = 4;
/** A holder that sends have-updates is asked for a full HAVE only every this many refreshes (a fallback). */
const UPDATING_HOLDER_POLL_EVERY = 4;

/**
 * The holders of one download: candidates from the tracker or a HolderSource are connected (at
 * most `maxPeers`), admitted with their HAVE, kept fresh (have-updates, HAVE refresh, tracker
 * re-poll), dropped when they lie, stall or die, and replaced by candidates not tried yet.
 */
export class HolderPool {
  readonly holders = new Map<string, Holder>();
  /** Dropped holders, kept for the bytes they delivered. */
  readonly formerHolders: Holder[] = [];
  candidates: PeerRef[] = [];
  /** Connections being opened to replace dropped holders. */
  connecting = 0;
  /** A HolderSource search is still running: more holders may come. */
  searching = false;
  private readonly dropped: string[] = [];
  private onCandidate: () => void = () => undefined;
  private scheduler?: DownloadScheduler;
  private manifest?: Manifest;
  private timers: NodeJS.Timeout[] = [];
  private lastTrackerPoll = 0;
  private refreshRound = 0;

  constructor(
    private readonly fileId: string,
    private readonly deps: HolderPoolDeps,
    private readonly owner: HolderPoolOwner,
  ) {}

  /** Run the holder search; resolves once it reported a first holder, or ended without one. */
  async startSearch(src: HolderSource, discovery: { mode: DiscoverMode; holders: FoundHolder[] }): Promise<void> {
    this.searching = true;
    const search = src
      .search((ref, found) => {
        if (ref.nodeId === this.deps.nodeId || this.holders.has(ref.nodeId) || this.candidates.some((c) => c.nodeId === ref.nodeId)) return;
        discovery.mode = found.via;
        discovery.holders.push(found);
        this.candidates.push(ref);
        this.onCandidate();
        if (this.scheduler && !this.owner.ended) void this.replenish();
      })
      .catch((e) => this.dropped.push(`${src.mode} discovery failed: ${(e as Error).message}`))
      .finally(() => {
        this.searching = false;
        this.onCandidate();
        this.owner.changed();
      });
    await Promise.race([this.nextCandidate(), this.owner.cancelSignal]);
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

  /** Connect batches of candidates until one holder is connected or none is left. */
  async connectFirst(checkCancelled: () => void): Promise<void> {
    while (this.holders.size === 0 && this.candidates.length > 0) {
      const batch = this.candidates.splice(0, this.deps.maxPeers);
      await Promise.all(batch.map((c) => this.connectHolder(c)));
      checkCancelled();
    }
  }

  private async connectHolder(ref: PeerRef): Promise<Holder | undefined> {
    try {
      const link = await this.deps.connect(ref.address!, ref.nodeId);
      if (this.owner.ended) {
        link.close('download ended');
        return undefined;
      }
      const h: Holder = { nodeId: ref.nodeId, address: ref.address!, link, bytes: 0, admitted: false, rate: new RateEstimator(), sent: 0, lastProgress: performance.now() };
      this.holders.set(h.nodeId, h);
      void link.closed.then((reason) => this.drop(h.nodeId, `connection closed: ${reason}`));
      return h;
    } catch (e) {
      this.dropped.push(`${ref.nodeId} (${ref.address}): ${(e as Error).message}`);
      // The tracker hides it until it announces again, so other downloads stop trying a dead holder.
      this.deps.tracker.peerUnreachable(ref.nodeId, this.deps.nodeId).catch(() => undefined);
      return undefined;
    }
  }

  /** The first holder whose manifest has the right id and matches it; a holder that lies is dropped. */
  async fetchManifest(checkCancelled: () => void): Promise<Manifest> {
    const asked = new Set<string>();
    for (;;) {
      checkCancelled();
      const h = [...this.holders.values()].find((x) => !asked.has(x.nodeId));
      if (!h) {
        if (this.candidates.length === 0 && this.searching) {
          await Promise.race([this.nextCandidate(), this.owner.cancelSignal]);
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

  /** The manifest is known and chunks are to be fetched: admit the connected holders, start the watchdog and the HAVE refresh. */
  async startScheduling(manifest: Manifest, scheduler: DownloadScheduler, stallMs: number): Promise<void> {
    this.manifest = manifest;
    this.scheduler = scheduler;
    const watchdog = setInterval(() => this.checkStalls(stallMs), Math.max(10, Math.min(1000, stallMs / 4)));
    watchdog.unref();
    this.timers.push(watchdog);
    const every = this.deps.haveRefreshMs ?? 0;
    if (every > 0) {
      const refresh = setInterval(() => void this.refreshHaves(), every);
      refresh.unref();
      this.timers.push(refresh);
    }
    if (!scheduler.isDone()) await Promise.all([...this.holders.values()].map((h) => this.admit(h)));
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
      h.stopUpdates = h.link.onHaveUpdate((fileId, indexes) => this.onHaveUpdate(h, fileId, indexes));
      this.owner.admitted(h.nodeId);
    } catch (e) {
      this.drop(h.nodeId, `no HAVE: ${(e as Error).message}`);
    }
  }

  /** A holder stored chunks since its HAVE: they count at once, instead of at the next HAVE refresh. */
  private onHaveUpdate(h: Holder, fileId: string, indexes: number[]): void {
    if (fileId !== this.fileId || this.owner.ended || this.holders.get(h.nodeId) !== h) return;
    this.scheduler!.addChunks(h.nodeId, indexes);
    this.owner.changed();
  }

  /** The holder delivered `bytes`: its stall clock restarts and its pipeline follows its rate. */
  delivered(h: Holder, bytes: number): void {
    h.lastProgress = performance.now();
    h.rate.record(bytes);
    this.scheduler!.setDepth(h.nodeId, this.depthFor(h));
  }

  /** The most requests a holder's pipeline may hold: PIPELINE_DEPTH, within the protocol's in-flight limit. */
  cap(): number {
    return Math.max(1, Math.min(this.deps.pipelineDepth, MAX_REQUESTS_IN_FLIGHT - LINK_HEADROOM));
  }

  /** About PIPELINE_SECONDS of the holder's measured rate, within [2, PIPELINE_DEPTH]. */
  private depthFor(h: Holder): number {
    const cap = this.cap();
    return pipelineDepth(h.rate.rate(), this.manifest!.chunkSize, { targetSeconds: PIPELINE_SECONDS, min: Math.min(2, cap), max: cap, initial: Math.min(4, cap) });
  }

  /** A holder that has requests outstanding and delivered nothing within the timeout is stalled. */
  private checkStalls(stallMs: number): void {
    if (this.owner.ended) return;
    const now = performance.now();
    for (const h of [...this.holders.values()]) {
      if (h.sent > 0 && now - h.lastProgress > stallMs) this.drop(h.nodeId, `stalled: no chunk delivered within ${stallMs} ms`);
    }
  }

  /** Fresh HAVEs (leechers gain chunks as they download) and, now and then, new holders from the tracker. */
  private async refreshHaves(): Promise<void> {
    const s = this.scheduler;
    if (!s || this.owner.ended) return;
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
    this.owner.changed();
  }

  drop(nodeId: string, reason: string): void {
    const h = this.holders.get(nodeId);
    if (!h) return;
    this.holders.delete(nodeId);
    this.formerHolders.push(h);
    if (!this.owner.ended) {
      this.dropped.push(`${nodeId}: ${reason}`);
      this.deps.logger?.warn({ fileId: this.fileId, holder: nodeId, reason }, 'dropping holder');
    }
    // Its in-flight requests now fail, give their leases back and are re-queued one by one.
    h.stopUpdates?.();
    this.scheduler?.removeHolder(nodeId);
    h.link.close(reason);
    if (this.scheduler && !this.owner.ended) void this.replenish();
    this.owner.changed();
  }

  /**
   * `h` served chunk `index` and it failed its hash. One bad chunk is not a lying holder (its disk
   * may have rotted): it is told (CORRUPT, so it can check and repair its copy) and not asked for
   * that chunk again, but keeps serving the rest, until it has served MAX_CORRUPT_CHUNKS bad ones.
   */
  corrupt(h: Holder, index: number): void {
    h.corrupt = (h.corrupt ?? 0) + 1;
    const told = h.link.reportCorrupt(this.fileId, index);
    if (h.corrupt >= MAX_CORRUPT_CHUNKS) return this.drop(h.nodeId, `served ${h.corrupt} corrupt chunks (the last: chunk ${index})`);
    this.dropped.push(`${h.nodeId}: served a corrupt chunk ${index}`);
    this.deps.logger?.warn({ fileId: this.fileId, holder: h.nodeId, index, told }, 'holder served a corrupt chunk: not asking it for that chunk again');
    this.scheduler?.lacks(h.nodeId, index);
  }

  /** Replace dropped holders with candidates not tried yet. */
  private async replenish(): Promise<void> {
    while (!this.owner.ended && this.holders.size + this.connecting < this.deps.maxPeers && this.candidates.length > 0) {
      const ref = this.candidates.shift()!;
      this.connecting++;
      try {
        const h = await this.connectHolder(ref);
        if (h) await this.admit(h);
      } finally {
        this.connecting--;
      }
      this.owner.changed();
    }
  }

  /** The job is over: timers stop. */
  stop(): void {
    for (const t of this.timers) clearInterval(t);
  }

  closeAll(reason: string): void {
    for (const h of this.holders.values()) h.link.close(reason);
  }

  /** Why holders were dropped or not reached, for error messages. */
  reasons(): string {
    return this.dropped.length ? this.dropped.join('; ') : 'no holder answered';
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

/** A file id shortened for messages. */
export function short(fileId: string): string {
  return fileId.slice(0, 12);
}
