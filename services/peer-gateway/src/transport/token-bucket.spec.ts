import { TokenBucket, limiterFor } from './token-bucket';

/** A hand-driven clock, so the bucket's arithmetic is checked without sleeping. */
function clock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('TokenBucket', () => {
  it('lets a burst through at once, then refills at the rate', () => {
    const c = clock();
    const b = new TokenBucket(1000, 500, c.now);
    expect(b.delayFor(500)).toBe(0);
    void b.take(500);
    expect(b.available()).toBe(0);
    expect(b.delayFor(100)).toBeCloseTo(100);
    c.advance(250);
    expect(b.available()).toBeCloseTo(250);
    c.advance(10_000);
    expect(b.available()).toBe(500); // never more than the burst
  });

  it('a take larger than the burst goes into debt that later takes repay', () => {
    const c = clock();
    const b = new TokenBucket(1000, 100, c.now);
    void b.take(1000);
    expect(b.available()).toBe(-900);
    expect(b.delayFor(100)).toBeCloseTo(1000); // 900 to repay + 100 to spend
  });

  it('waiters go in order and are released as tokens come', async () => {
    const b = new TokenBucket(100_000, 1000);
    const order: number[] = [];
    await b.take(1000);
    const t0 = performance.now();
    await Promise.all([b.take(2000).then(() => order.push(1)), b.take(10).then(() => order.push(2))]);
    const ms = performance.now() - t0;
    expect(order).toEqual([1, 2]); // the small take does not overtake the large one
    expect(ms).toBeGreaterThanOrEqual(9); // 1000 tokens at 100 kB/s at least
  });

  it('rate 0 is unlimited; close() releases waiters', async () => {
    const off = new TokenBucket(0);
    expect(off.unlimited).toBe(true);
    await off.take(1e12);
    const b = new TokenBucket(1, 1);
    await b.take(1);
    const waiting = b.take(1_000_000);
    b.close();
    await expect(waiting).resolves.toBeUndefined();
  });

  it('rejects a bad rate or burst with a clear error', () => {
    expect(() => new TokenBucket(-1)).toThrow(/rate must be a number >= 0/);
    expect(() => new TokenBucket(Number.NaN)).toThrow(RangeError);
    expect(() => new TokenBucket(10, 0)).toThrow(/burst must be > 0/);
  });

  it('limiterFor: off at 0, else a 100 ms burst of at least 64 KiB', () => {
    expect(limiterFor(0)).toBeUndefined();
    expect(limiterFor(10 * 1024 * 1024)!.burst).toBe(1024 * 1024);
    expect(limiterFor(1024)!.burst).toBe(64 * 1024);
  });
});
