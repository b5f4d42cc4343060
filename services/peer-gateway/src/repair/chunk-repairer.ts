import { type Logger, setNewest, type VerifyChunksReply } from '@swarmshare/common';
import type { ChunkRegions } from '../storage-io/chunk-regions';
import type { ChunkStoreClient } from '../storage-io/chunk-store.client';

/** Chunk checks asked for by peers and waiting or running at once; more notices are dropped (bounded). */
const MAX_PENDING_CHECKS = 256;
/** A chunk that passed its re-hash is not re-hashed again for a peer's notice within this long. */
const RECHECK_AFTER_MS = 60_000;
/** Chunks remembered as recently checked (the oldest is forgotten first). */
const MAX_RECENT = 4096;

/**
 * Corrupt-chunk repair on this node (docs/architecture.md "Corrupt chunks"). A chunk is suspected
 * by a peer's CORRUPT notice, by `fetch -o` (the repair subject) or found by the store's scrub. The
 * store re-hashes it from disk; a bad one is marked missing there, dropped from the served layout
 * here, and the repair listeners (the downloads) fetch the file's missing chunks again.
 *
 * A peer cannot make this node do unbounded work: notices are deduplicated per chunk, a chunk
 * found sound is not re-hashed again for a minute, and at most MAX_PENDING_CHECKS wait at once.
 */
export class ChunkRepairer {
  private readonly pending = new Set<string>();
  private readonly recentlySound = new Map<string, number>();
  private readonly listeners: Array<(fileId: string, indexes: number[]) => void> = [];
  /** Notices dropped because too many were pending or the chunk was checked recently (tests, logs). */
  ignoredNotices = 0;

  constructor(
    private readonly store: Pick<ChunkStoreClient, 'verify'>,
    private readonly regions: Pick<ChunkRegions, 'forget'>,
    private readonly logger?: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Hear chunks found corrupt and now missing (the downloads fetch them again). */
  onCorrupt(listener: (fileId: string, indexes: number[]) => void): void {
    this.listeners.push(listener);
  }

  /** A peer's CORRUPT notice: check that chunk in the background, at most once at a time. */
  notice(fileId: string, index: number, from: string): void {
    const key = `${fileId}:${index}`;
    const soundAt = this.recentlySound.get(key);
    if (this.pending.has(key) || this.pending.size >= MAX_PENDING_CHECKS || (soundAt !== undefined && this.now() - soundAt < RECHECK_AFTER_MS)) {
      this.ignoredNotices++;
      return;
    }
    this.pending.add(key);
    this.logger?.warn({ fileId, index, from }, 'a peer says a chunk we served failed its hash: re-hashing our copy');
    void this.check(fileId, [index])
      .then((r) => {
        if (r.corrupt.length === 0) setNewest(this.recentlySound, key, this.now(), MAX_RECENT);
      })
      .catch((e) => this.logger?.warn({ fileId, index, err: (e as Error).message }, 'could not re-hash a chunk a peer reported'))
      .finally(() => this.pending.delete(key));
  }

  /** Re-hash these chunks (or the whole file); repair what failed. */
  async check(fileId: string, indexes?: number[]): Promise<VerifyChunksReply> {
    const r = await this.store.verify(fileId, indexes);
    if (r.corrupt.length > 0) this.found(fileId, r.corrupt);
    return r;
  }

  /** The store marked these chunks missing (its reply, or its event after a scrub): stop serving them, fetch them again. */
  found(fileId: string, indexes: number[]): void {
    void this.regions.forget(fileId, indexes);
    for (const i of indexes) this.recentlySound.delete(`${fileId}:${i}`);
    this.logger?.warn({ fileId, chunks: indexes.slice(0, 32), count: indexes.length }, 'corrupt chunks marked missing: fetching them again from the swarm');
    for (const l of this.listeners) {
      try {
        l(fileId, indexes);
      } catch (e) {
        this.logger?.warn({ fileId, err: (e as Error).message }, 'a repair listener failed');
      }
    }
  }
}
