/**
 * Group commit: callers that want the same key (a file) made durable at about the same time share
 * one flush. While a flush for a key runs, new arrivals queue and go together in the next one, so
 * under load the fsync count per file is one per batch, not one per chunk, and with no load a
 * single caller is flushed at once (no timer, no added latency).
 */
export class GroupCommit<I, R> {
  private readonly queues = new Map<string, { items: I[]; waiters: { resolve(r: R): void; reject(e: unknown): void }[] }>();
  private readonly running = new Set<string>();

  /** `flush(key, items)` makes the whole batch durable; its result goes to every caller in it. */
  constructor(private readonly flush: (key: string, items: I[]) => Promise<R>) {}

  add(key: string, item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      let q = this.queues.get(key);
      if (!q) this.queues.set(key, (q = { items: [], waiters: [] }));
      q.items.push(item);
      q.waiters.push({ resolve, reject });
      if (!this.running.has(key)) void this.drain(key);
    });
  }

  private async drain(key: string): Promise<void> {
    this.running.add(key);
    try {
      for (let q = this.queues.get(key); q; q = this.queues.get(key)) {
        this.queues.delete(key);
        try {
          const r = await this.flush(key, q.items);
          for (const w of q.waiters) w.resolve(r);
        } catch (e) {
          for (const w of q.waiters) w.reject(e);
        }
      }
    } finally {
      this.running.delete(key);
    }
  }
}
