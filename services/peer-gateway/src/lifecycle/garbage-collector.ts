import { type GcReport, type Logger, SwarmError, type TFileDef, toErrorBody } from '@swarmshare/common';

/** Kept files listed in one report, at most (the log and metrics count them all). */
const MAX_KEPT_LISTED = 100;

export interface SwarmView {
  otherComplete: number;
  expiresAt?: number;
}

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
   * What the tracker says of the file: live peers other than this node holding it whole, and when
   * it expires (`share --ttl`; undefined: never). Throws when the tracker does not answer (GC then
   * keeps everything) or does not know the file (kept too).
   */
  swarmView(fileId: string): Promise<SwarmView>;
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
 * The node's garbage collection (issue 14), two passes per run:
 * 1. TTL: every file here (complete or partial, pinned or not) that the tracker says is past its
 *    expiry is evicted, whatever the watermarks say and even if it is the swarm's last copy: the
 *    owner said when its life ends. When the tracker does not answer, this pass stops (expiry is
 *    the tracker's record) and the next run tries again.
 * 2. Watermark: when the store's files take more than the high watermark of its capacity, complete
 *    unpinned files are evicted, least recently used first, until they take no more than the low
 *    watermark. The swarm's last complete copy of a file is never evicted: before each eviction the
 *    tracker is asked whether another live peer holds the whole file; when the tracker does not
 *    answer, nothing more is evicted this run. Partial files (downloads, replica shares) and pinned
 *    files are never evicted by this pass.
 * One run at a time; a second caller shares the run in progress.
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
    const evict = async (f: TFileDef, reason: 'ttl' | 'watermark'): Promise<void> => {
      const r = await this.o.evict(f.fileId);
      if (!r.deleted) return;
      // What the store freed: a partial replica (sparse) frees its share, not the file's size.
      report.usedAfter = Math.max(0, report.usedAfter - r.bytes);
      report.evicted.push({ fileId: f.fileId, name: f.name, bytes: r.bytes, reason });
      this.o.metrics?.gcFilesEvicted.inc({ reason });
      this.o.metrics?.gcBytesEvicted.inc({ reason }, r.bytes);
    };

    // TTL pass. The answers are kept for the watermark pass: one tracker request per file and run.
    const views = new Map<string, SwarmView | Error>();
    const ask = async (fileId: string): Promise<SwarmView> => {
      let v = views.get(fileId);
      if (v === undefined) {
        v = await this.o.swarmView(fileId).catch((e: unknown) => (e instanceof Error ? e : new Error(String(e))));
        views.set(fileId, v);
      }
      if (v instanceof Error) throw v;
      return v;
    };
    const expired = new Set<string>();
    for (const f of files) {
      let view: SwarmView;
      try {
        view = await ask(f.fileId);
      } catch (e) {
        if (e instanceof SwarmError && e.code === 'NOT_FOUND') continue;
        this.o.logger?.warn({ err: toErrorBody(e).message }, 'the tracker did not answer: expiries are checked on the next run');
        break;
      }
      if (view.expiresAt !== undefined && view.expiresAt <= started) {
        expired.add(f.fileId);
        await evict(f, 'ttl');
      }
    }

    if (report.usedAfter > high) {
      const complete = files.filter((f) => f.state === 'complete' && f.size > 0 && !expired.has(f.fileId));
      const order = await Promise.all(complete.map(async (f) => ({ f, at: await this.o.lastUsed(f.fileId).catch(() => 0) })));
      order.sort((a, b) => a.at - b.at || (a.f.fileId < b.f.fileId ? -1 : 1));
      for (const [i, { f }] of order.entries()) {
        if (report.usedAfter <= low) break;
        if (f.pinned) {
          keep(f.fileId, 'pinned on this node');
          continue;
        }
        let others: number;
        try {
          others = (await ask(f.fileId)).otherComplete;
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
        await evict(f, 'watermark');
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
