import type { Logger } from '@swarmshare/common';
import type { ChunkStoreClient } from '../storage-io/chunk-store.client';
import type { TrackerClient } from './tracker.client';
import type { ReRegistrar } from './re-registrar';

export interface AnnouncerOptions {
  nodeId: string;
  address: () => string;
  intervalMs: number;
  /** Files with a download running on this node (leecher); other partial files are only held. */
  downloading?: () => readonly string[];
  /** Registers again the files the tracker says it has no record of. */
  reRegistrar?: Pick<ReRegistrar, 'reRegister'>;
  logger?: Logger;
}

/**
 * Tells the tracker what this node holds, at start and then every interval: the tracker's view
 * is soft state rebuilt from these announces, so a lost one, or a restarted tracker, heals at the
 * next tick. Failures are logged, never fatal: the tracker or the store may be down for a while.
 */
export class Announcer {
  private timer?: NodeJS.Timeout;
  private inFlight?: Promise<boolean>;
  private failing = false;
  /** Deletes this node's copy of files deleted everywhere while it was away (the tracker's tombstones). */
  private deleteLocal?: (fileId: string) => Promise<unknown>;

  constructor(
    private readonly store: Pick<ChunkStoreClient, 'stats' | 'files'>,
    private readonly tracker: Pick<TrackerClient, 'announce'>,
    private readonly opts: AnnouncerOptions,
  ) {}

  /** Set once the node's FileDeleter exists (it announces through this announcer after a delete). */
  deleteWith(fn: (fileId: string) => Promise<unknown>): void {
    this.deleteLocal = fn;
  }

  start(): void {
    void this.announce();
    this.timer = setInterval(() => void this.announce(), this.opts.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One announce; resolves true if the tracker took it. Overlapping calls share the one in flight. */
  announce(): Promise<boolean> {
    this.inFlight ??= this.once().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  /**
   * An announce that starts after this call, so it carries what changed just before (a pin): one
   * already in flight may have read the store's files too early, so it is waited for first.
   */
  async announceFresh(): Promise<boolean> {
    await this.inFlight;
    return this.announce();
  }

  /** One at a time, in the background; a failure is retried at the next announce (the tombstone stays). */
  private async deleteTombstoned(fileIds: readonly string[]): Promise<void> {
    for (const fileId of fileIds) {
      try {
        if (!this.deleteLocal) return;
        await this.deleteLocal(fileId);
        this.opts.logger?.info({ event: 'file.tombstone.applied', fileId }, 'deleted a file that was deleted everywhere while this node was away');
      } catch (e) {
        this.opts.logger?.warn({ fileId, err: (e as Error).message }, 'could not delete a file deleted everywhere; will retry at the next announce');
      }
    }
  }

  private async once(): Promise<boolean> {
    try {
      const [stats, files] = await Promise.all([this.store.stats(), this.store.files()]);
      const complete = files.filter((f) => f.state === 'complete').map((f) => f.fileId);
      const downloading = this.opts.downloading ? new Set(this.opts.downloading()) : undefined;
      // A partial file with no chunk that nobody downloads (a failed start) holds nothing to serve.
      const partial = files.filter((f) => f.state === 'partial' && (!downloading || f.chunksPresent > 0 || downloading.has(f.fileId))).map((f) => f.fileId);
      const reply = await this.tracker.announce({
        nodeId: this.opts.nodeId,
        address: this.opts.address(),
        capacity: stats.capacity,
        free: stats.free,
        complete,
        partial,
        ...(downloading ? { downloading: partial.filter((id) => downloading.has(id)) } : {}),
        // The tracker keeps them with the holder, so `ls` shows pins without asking every node.
        pinned: files.filter((f) => f.pinned).map((f) => f.fileId),
      });
      // In the background: hashing a large file must not hold up the next announce.
      if (reply.unknown.length > 0) void this.opts.reRegistrar?.reRegister(reply.unknown, new Set(complete));
      if (reply.deleted.length > 0) void this.deleteTombstoned(reply.deleted);
      if (this.failing) this.opts.logger?.info('announcing to the tracker again');
      this.failing = false;
      return true;
    } catch (e) {
      // Warn once per outage, not every tick.
      if (!this.failing) this.opts.logger?.warn({ err: (e as Error).message }, 'announce failed; will retry');
      this.failing = true;
      return false;
    }
  }
}
