/**
 * Token bucket per key (a query's origin address): `ratePerSec` tokens a second, bursts of up to
 * `burst`. The number of keys tracked is bounded; the least recently used is forgotten first, so
 * forged origins cannot grow memory without bound.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    readonly ratePerSec: number,
    readonly burst: number = ratePerSec,
    readonly maxKeys = 10_000,
  ) {
    if (!(ratePerSec > 0) || !(burst >= 1) || !(maxKeys >= 1)) throw new RangeError(`rate limiter needs rate > 0, burst >= 1, maxKeys >= 1 (got ${ratePerSec}, ${burst}, ${maxKeys})`);
  }

  /** Take one token for `key` at time `now` (ms); false when the key is over its rate. */
  allow(key: string, now: number = Date.now()): boolean {
    const b = this.buckets.get(key) ?? { tokens: this.burst, at: now };
    this.buckets.delete(key); // re-insert: Map order is the LRU order
    b.tokens = Math.min(this.burst, b.tokens + (Math.max(0, now - b.at) * this.ratePerSec) / 1000);
    b.at = now;
    const ok = b.tokens >= 1;
    if (ok) b.tokens -= 1;
    this.buckets.set(key, b);
    if (this.buckets.size > this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
    return ok;
  }

  get keys(): number {
    return this.buckets.size;
  }
}
