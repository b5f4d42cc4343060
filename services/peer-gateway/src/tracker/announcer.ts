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

  constructor(
    private readonly store: Pick<ChunkStoreClient, 'stats' | 'files'>,
    private readonly tracker: Pick<TrackerClient, 'announce'>,
    private readonly opts: AnnouncerOptions,
  ) {}

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
      });
      // In the background: hashing a large file must not hold up the next announce.
      if (reply.unknown.length > 0) void this.opts.reRegistrar?.reRegister(reply.unknown, new Set(complete));
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
