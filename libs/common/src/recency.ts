/**
 * Small bounded caches as plain Maps and Sets, which keep insertion order: the newest key is last,
 * so the oldest is the first key. One helper for the many "remember the last N files" places.
 */

/** Put `key` last (newest) with `value`, then drop the oldest entry past `max`; returns the dropped key. */
export function setNewest<K, V>(map: Map<K, V>, key: K, value: V, max: number): K | undefined {
  map.delete(key);
  map.set(key, value);
  return dropOldest(map, max);
}

/** Put `key` last (newest), then drop the oldest key past `max`; returns the dropped key. */
export function addNewest<K>(set: Set<K>, key: K, max: number): K | undefined {
  set.delete(key);
  set.add(key);
  return dropOldest(set, max);
}

function dropOldest<K>(c: Map<K, unknown> | Set<K>, max: number): K | undefined {
  if (c.size <= max) return undefined;
  const oldest = c.keys().next().value as K;
  c.delete(oldest);
  return oldest;
}

export interface JobRetention {
  /** Finished jobs kept at most (the oldest finished is forgotten first). */
  maxFinished: number;
  /** A finished job is forgotten this long after it finished. */
  ttlMs: number;
}

/** FINISHED_JOBS_KEPT and FINISHED_JOB_TTL_MS defaults. */
export const DEFAULT_JOB_RETENTION: JobRetention = { maxFinished: 1000, ttlMs: 3_600_000 };

/**
 * Jobs by key (downloads by file id, uploads by upload id): running ones are kept as long as they
 * run, finished ones only so that their status still answers for a while: at most `maxFinished`,
 * none older than `ttlMs`. Without this a long-lived node keeps every job it ever ran. `now` is
 * injectable for tests.
 */
export class JobTable<J> {
  private readonly jobs = new Map<string, J>();
  /** Finish time of each finished job, oldest first. */
  private readonly finishedAt = new Map<string, number>();

  constructor(
    private readonly retention: JobRetention,
    private readonly now: () => number = Date.now,
  ) {}

  get(key: string): J | undefined {
    this.prune();
    return this.jobs.get(key);
  }

  /** A new (running) job for `key`, replacing any earlier one. */
  set(key: string, job: J): void {
    this.finishedAt.delete(key);
    this.jobs.set(key, job);
    this.prune();
  }

  /** `job` finished: its retention starts. Ignored if `key` holds another job by now. */
  finished(key: string, job: J): void {
    if (this.jobs.get(key) !== job) return;
    this.finishedAt.delete(key);
    this.finishedAt.set(key, this.now());
    this.prune();
  }

  delete(key: string): void {
    this.jobs.delete(key);
    this.finishedAt.delete(key);
  }

  /** Every job kept (running and finished). */
  values(): J[] {
    this.prune();
    return [...this.jobs.values()];
  }

  get size(): number {
    return this.jobs.size;
  }

  /** Forget finished jobs past their time, then the oldest past the count. */
  private prune(): void {
    const cutoff = this.now() - this.retention.ttlMs;
    for (const [key, at] of this.finishedAt) {
      if (at > cutoff && this.finishedAt.size <= this.retention.maxFinished) break;
      this.finishedAt.delete(key);
      this.jobs.delete(key);
    }
  }
}
