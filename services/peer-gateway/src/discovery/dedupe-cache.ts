import { addNewest } from '@swarmshare/common';

/**
 * Query ids already seen, to drop duplicates of a flood query (the overlay has cycles). Bounded:
 * past `capacity` the oldest id is forgotten, so a flood of fresh ids costs memory only up to the
 * bound; a forgotten id that comes back is treated as new, which the hop budget still bounds.
 */
export class DedupeCache {
  private readonly ids = new Set<string>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`dedupe cache capacity must be a positive integer, got ${capacity}`);
  }

  /** True if `id` was seen before; otherwise remembers it and returns false. */
  seen(id: string): boolean {
    if (this.ids.has(id)) return true;
    addNewest(this.ids, id, this.capacity);
    return false;
  }

  get size(): number {
    return this.ids.size;
  }
}
