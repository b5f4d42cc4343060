import { setNewest } from '@swarmshare/common';

/** Answers of the iterative lookup (a peer's holdings of a file, its neighbour list), reused until they expire. */
export class AnswerCache<V> {
  private readonly entries = new Map<string, { value: V; expires: number }>();

  constructor(
    readonly ttlMs: number,
    readonly maxEntries = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  get(key: string): V | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.expires <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return e.value;
  }

  set(key: string, value: V): void {
    if (this.ttlMs <= 0) return;
    setNewest(this.entries, key, { value, expires: this.now() + this.ttlMs }, this.maxEntries);
  }

  get size(): number {
    return this.entries.size;
  }
}
