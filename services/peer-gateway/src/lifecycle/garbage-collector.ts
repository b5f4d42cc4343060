import { type GcReport, type Logger, SwarmError, type TFileDef, toErrorBody } from '@swarmshare/common';

/** Kept files listed in one report, at most (the log and metrics count them all). */
const MAX_KEPT_LISTED = 100;

export interface GarbageCollectorOptions {
  nodeId: string;
  /** Percentages of the store's capacity: above `highPct` in use, evict down to `lowPct`. */
  highPct: number;
  lowPct: number;
  store: {
    stats(): Promise<{ capacity: number; used: number }>;
    files(): Promise<TFileDef[]>;
  };
  /** Deletes through the node's FileDeleter (transfers stopped, caches dropped, store cleared). */
  evict(fileId: string): Promise<{ deleted: boolean; bytes: number }>;
  /**
   * Live peers other than this node holding the whole file, as the tracker says. Throws when the
   * tracker does not answer (GC then keeps everything) or does not know the file (kept too).
   */
  otherCompleteHolders(fileId: string): Promise<number>;
  /** When the file was last used here (read or written), in ms; the oldest is evicted first. */
  lastUsed(fileId: string): Promise<number>;
  now?: () => number;
  metrics?: {
    gcRuns: { inc(labels: { trigger: string }): void };
    gcFilesEvicted: { inc(labels: { reason: string }, n?: number): void };
    gcBytesEvicted: { inc(labels: { reason: string }, n?: number): void };
  };
  logger?: Logger;
}

/**
 * The node's garbage collection (issue 14). When the store's files take more than the high
 * watermark of its capacity, complete files are evicted, least recently used first, until they take
 * no more than the low watermark. The swarm's last complete copy of a file is never evicted: before
 * each eviction the tracker is asked whether another live peer holds the whole file; when the
 * tracker does not answer, nothing more is evicted this run. Partial files (downloads, replica
 * shares) are never evicted. One run at a time; a second caller shares the run in progress.
 */
export class GarbageCollector {
  private running?: Promise<GcReport>;
  private timer?: NodeJS.Timeout;

  constructor(private readonly o: GarbageCollectorOptions) {}

  /** Run every `intervalMs` (0: only on demand). */
  start(intervalMs: number): void {
    if (intervalMs <= 0) return;
    this.timer = setInterval(() => void this.run('timer').catch((e) => this.o.logger?.warn({ err: toErrorBody(e).message }, 'garbage collection failed; will retry')), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Nest calls this at shutdown (the collector is a provider). */
  onApplicationShutdown(): void {
    this.stop();
  }

  run(trigger: GcReport['trigger']): Promise<GcReport> {
    this.running ??= this.once(trigger).finally(() => (this.running = undefined));
    return this.running;
  }

  private async once(trigger: GcReport['trigger']): Promise<GcReport> {
    const { nodeId, highPct, lowPct, store } = this.o;
    const started = (this.o.now ?? Date.now)();
    this.o.metrics?.gcRuns.inc({ trigger });
    const [{ capacity, used }, files] = await Promise.all([store.stats(), store.files()]);
    const high = Math.floor((capacity * highPct) / 100);
    const low = Math.floor((capacity * lowPct) / 100);
    const report: GcReport = { nodeId, trigger, capacity, high, low, usedBefore: used, usedAfter: used, evicted: [], kept: [] };
    let keptCount = 0;
    const keep = (fileId: string, reason: string) => {
      keptCount++;
      if (report.kept.length < MAX_KEPT_LISTED) report.kept.push({ fileId, reason });
    };
    if (used > high) {
      const complete = files.filter((f) => f.state === 'complete' && f.size > 0);
      const order = await Promise.all(complete.map(async (f) => ({ f, at: await this.o.lastUsed(f.fileId).catch(() => 0) })));
      order.sort((a, b) => a.at - b.at || (a.f.fileId < b.f.fileId ? -1 : 1));
      for (const [i, { f }] of order.entries()) {
        if (report.usedAfter <= low) break;
        let others: number;
        try {
          others = await this.o.otherCompleteHolders(f.fileId);
        } catch (e) {
          const code = e instanceof SwarmError ? e.code : 'INTERNAL';
          if (code === 'NOT_FOUND') {
            keep(f.fileId, 'not registered with the tracker: it may be the only copy');
            continue;
          }
          // The tracker cannot vouch for another copy: keep this and every later candidate.
          for (const rest of order.slice(i)) keep(rest.f.fileId, `the tracker did not answer (${toErrorBody(e).message}): a last copy is never risked`);
          break;
        }
        if (others === 0) {
          keep(f.fileId, 'the swarm\'s last complete copy');
          continue;
        }
        const r = await this.o.evict(f.fileId);
        if (!r.deleted) continue;
        report.usedAfter = Math.max(0, report.usedAfter - f.size);
        report.evicted.push({ fileId: f.fileId, name: f.name, bytes: f.size, reason: 'watermark' });
        this.o.metrics?.gcFilesEvicted.inc({ reason: 'watermark' });
        this.o.metrics?.gcBytesEvicted.inc({ reason: 'watermark' }, f.size);
      }
    }
    const ms = (this.o.now ?? Date.now)() - started;
    const level = report.evicted.length > 0 || keptCount > 0 ? 'info' : 'debug';
    this.o.logger?.[level](
      { event: 'gc.run', trigger, capacity, high, low, usedBefore: report.usedBefore, usedAfter: report.usedAfter, evicted: report.evicted.length, bytesEvicted: report.usedBefore - report.usedAfter, kept: keptCount, ms },
      report.usedAfter > high ? 'garbage collection could not get below the high watermark' : 'garbage collection ran',
    );
    return report;
  }
}
