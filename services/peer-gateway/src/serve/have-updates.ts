import { type HaveUpdateTarget, setNewest } from '@swarmshare/common';

/** Files with watchers kept at once (the least recently asked about is forgotten first; its peers re-register on their next HAVE). */
const MAX_WATCHED_FILES = 256;

/**
 * Have-updates, the sending side: connections whose peer asked for a file's HAVE (and announced
 * "have-updates") are told about every chunk of that file this gateway stores afterwards, batched:
 * the chunks stored within `batchMs` go out as one HAVE_UPDATE per file and connection. Fetchers
 * then learn of each other's chunks within about `batchMs`, instead of at their next HAVE poll.
 */
export class HaveUpdates {
  private readonly watchers = new Map<string, Set<HaveUpdateTarget>>();
  private readonly pending = new Map<string, number[]>();
  private timer?: NodeJS.Timeout;

  /** `batchMs` 0 = never send updates (peers still poll HAVE). */
  constructor(private readonly batchMs: number) {
    if (!Number.isInteger(batchMs) || batchMs < 0) throw new RangeError(`have-update batch interval must be an integer >= 0 ms, got ${batchMs}`);
  }

  /** The peer on `target` asked for this file's HAVE: it hears about chunks stored from now on, until it closes. */
  watch(fileId: string, target: HaveUpdateTarget): void {
    if (this.batchMs === 0) return;
    const set = this.watchers.get(fileId) ?? new Set<HaveUpdateTarget>();
    setNewest(this.watchers, fileId, set, MAX_WATCHED_FILES); // most recently asked about last
    if (set.has(target)) return;
    set.add(target);
    const watched = set;
    void target.closed.then(() => {
      watched.delete(target);
      if (watched.size === 0 && this.watchers.get(fileId) === watched) this.watchers.delete(fileId);
    });
  }

  /** This gateway stored and verified chunk `index` of `fileId` (ChunkRegions.onStored). */
  stored(fileId: string, index: number): void {
    if (!this.watchers.has(fileId)) return; // nobody asked: nothing to tell
    const list = this.pending.get(fileId);
    if (list) list.push(index);
    else this.pending.set(fileId, [index]);
    if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.batchMs);
      this.timer.unref();
    }
  }

  /** Send what was stored since the last flush (the timer calls it; tests and shutdown may too). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const [fileId, indexes] of this.pending) {
      for (const target of this.watchers.get(fileId) ?? []) target.sendHaveUpdate(fileId, indexes);
    }
    this.pending.clear();
  }

  /** Connections watching a file (tests). */
  watching(fileId: string): number {
    return this.watchers.get(fileId)?.size ?? 0;
  }
}
