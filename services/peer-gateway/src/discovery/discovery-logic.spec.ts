import { AnswerCache } from './answer-cache';
import { DedupeCache } from './dedupe-cache';
import { RateLimiter } from './rate-limiter';
import { RingPlanner } from './ring-planner';

describe('DedupeCache', () => {
  it('reports a replayed id as seen, a new one as not', () => {
    const c = new DedupeCache(4);
    expect(c.seen('a')).toBe(false);
    expect(c.seen('a')).toBe(true);
    expect(c.seen('b')).toBe(false);
  });

  it('is bounded: past its capacity the oldest id is forgotten first', () => {
    const c = new DedupeCache(3);
    for (const id of ['a', 'b', 'c', 'd']) c.seen(id);
    expect(c.size).toBe(3);
    expect(c.seen('d')).toBe(true);
    expect(c.seen('b')).toBe(true);
    expect(c.seen('a')).toBe(false); // forgotten, so new again
    for (let i = 0; i < 10_000; i++) c.seen(`x${i}`);
    expect(c.size).toBe(3);
  });

  it('refuses a nonsensical capacity', () => {
    expect(() => new DedupeCache(0)).toThrow(/positive integer/);
  });
});

describe('RateLimiter', () => {
  it('allows a burst, then the rate, per key', () => {
    const r = new RateLimiter(5, 5);
    const t = 1_000_000;
    const allowed = Array.from({ length: 8 }, () => r.allow('10.0.0.1:7881', t)).filter(Boolean).length;
    expect(allowed).toBe(5);
    expect(r.allow('10.0.0.2:7881', t)).toBe(true); // another origin has its own bucket
    expect(r.allow('10.0.0.1:7881', t + 100)).toBe(false); // 0.5 token refilled
    expect(r.allow('10.0.0.1:7881', t + 200)).toBe(true); // one token after 200 ms at 5/s
    // A sustained flood gets ~5/s through, no more.
    let through = 0;
    for (let ms = 0; ms < 10_000; ms += 10) if (r.allow('10.0.0.1:7881', t + 1000 + ms)) through++;
    expect(through).toBeGreaterThanOrEqual(50);
    expect(through).toBeLessThanOrEqual(56);
  });

  it('tracks a bounded number of origins', () => {
    const r = new RateLimiter(1, 1, 100);
    for (let i = 0; i < 10_000; i++) r.allow(`forged-${i}:1`, 0);
    expect(r.keys).toBe(100);
  });
});

describe('RingPlanner', () => {
  it('asks lower rings first, never more than maxInFlight at once, each peer once', () => {
    const p = new RingPlanner(2, 5, 100, ['self:1']);
    p.discovered(['a:1', 'b:1', 'c:1', 'self:1'], 1);
    const first = [p.next(), p.next(), p.next()];
    expect(first.map((x) => x?.address)).toEqual(['a:1', 'b:1', undefined]);
    p.discovered(['d:1', 'a:1', 'e:1'], 2); // a is known already
    p.done();
    expect(p.next()).toEqual({ address: 'c:1', ring: 1 }); // ring 1 before ring 2
    p.done();
    expect(p.next()).toEqual({ address: 'd:1', ring: 2 });
    expect(p.pending).toBe(1);
  });

  it('has no barrier between rings: a slow peer in ring 1 does not hold up ring 2', () => {
    const p = new RingPlanner(2, 5, 100);
    p.discovered(['slow:1', 'fast:1'], 1);
    p.next(); // slow: still out
    p.next(); // fast
    p.discovered(['far:1'], 2); // fast answered with its neighbours
    p.done();
    expect(p.next()).toEqual({ address: 'far:1', ring: 2 });
    expect(p.idle()).toBe(false);
  });

  it('stops at the ring limit and the question budget, and is idle when nothing is left', () => {
    const p = new RingPlanner(8, 2, 3);
    expect(p.discovered(['x:1'], 3)).toBe(0);
    p.discovered(['a:1', 'b:1', 'c:1', 'd:1'], 1);
    const asked = [p.next(), p.next(), p.next(), p.next()].filter(Boolean);
    expect(asked).toHaveLength(3);
    p.done();
    p.done();
    expect(p.idle()).toBe(false);
    p.done();
    expect(p.idle()).toBe(true);
  });
});

describe('AnswerCache', () => {
  it('returns answers until they expire, and holds a bounded number', () => {
    let now = 0;
    const c = new AnswerCache<number>(1000, 2, () => now);
    c.set('a', 1);
    now = 999;
    expect(c.get('a')).toBe(1);
    now = 1000;
    expect(c.get('a')).toBeUndefined();
    c.set('x', 1);
    c.set('y', 2);
    c.set('z', 3);
    expect(c.size).toBe(2);
    expect(c.get('x')).toBeUndefined();
  });
});
