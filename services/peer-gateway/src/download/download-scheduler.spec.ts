import { Bitfield } from '@swarmshare/common';
import { DownloadScheduler } from './download-scheduler';

const bits = (n: number, set: number[]) => {
  const b = new Bitfield(n);
  for (const i of set) b.set(i);
  return b;
};
const first = () => 0; // deterministic tie-break: lowest index

function drain(s: DownloadScheduler, id: string): number[] {
  const out: number[] = [];
  for (let i = s.next(id); i !== undefined; i = s.next(id)) out.push(i);
  return out;
}

describe('DownloadScheduler', () => {
  it('picks the rarest chunk first', () => {
    // Chunk 4 is already here, so a (lacking it) is a partial holder like b and c, not a seed.
    const s = new DownloadScheduler(5, bits(5, [4]), 1, first);
    s.addHolder('a', bits(5, [0, 1, 2, 3]));
    s.addHolder('b', bits(5, [0, 1, 3]));
    s.addHolder('c', bits(5, [0, 3]));
    // availability: 0→3, 1→2, 2→1, 3→3: only a has chunk 2.
    expect(s.next('a')).toBe(2);
    s.completed('a', 2);
    expect(s.next('a')).toBe(1);
    s.completed('a', 1);
    expect(s.next('a')).toBe(0);
  });

  it('gives a holder only chunks it has', () => {
    const s = new DownloadScheduler(6, new Bitfield(6), 8, first);
    s.addHolder('a', bits(6, [1, 4]));
    expect(drain(s, 'a').sort()).toEqual([1, 4]);
  });

  it('keeps at most `depth` chunks in flight per holder', () => {
    const s = new DownloadScheduler(20, new Bitfield(20), 3, first);
    s.addHolder('a', Bitfield.full(20));
    s.addHolder('b', Bitfield.full(20));
    const a = drain(s, 'a');
    const b = drain(s, 'b');
    expect(a).toHaveLength(3);
    expect(b).toHaveLength(3);
    expect(new Set([...a, ...b]).size).toBe(6); // never the same chunk to two holders
    expect(s.inFlight('a')).toBe(3);
    s.completed('a', a[0]);
    expect(drain(s, 'a')).toHaveLength(1);
    expect(s.inFlight()).toBe(6);
  });

  it('skips chunks already present locally (resume)', () => {
    const s = new DownloadScheduler(5, bits(5, [0, 1, 3]), 8, first);
    s.addHolder('a', Bitfield.full(5));
    expect(s.missingCount()).toBe(2);
    expect(drain(s, 'a').sort()).toEqual([2, 4]);
    s.completed('a', 2);
    s.completed('a', 4);
    expect(s.isDone()).toBe(true);
    expect(s.next('a')).toBeUndefined();
  });

  it('re-queues a lost holder’s chunks to the others once they are settled', () => {
    const s = new DownloadScheduler(6, new Bitfield(6), 2, first);
    s.addHolder('a', Bitfield.full(6));
    s.addHolder('b', Bitfield.full(6));
    const a = drain(s, 'a');
    const b = drain(s, 'b');
    s.completed('b', b[0]);
    s.completed('b', b[1]);
    // a dies: it gets nothing new, its two chunks stay assigned until their leases are given back.
    expect(s.removeHolder('a').sort()).toEqual([...a].sort());
    expect(s.next('a')).toBeUndefined();
    const b2 = drain(s, 'b');
    expect(b2.some((i) => a.includes(i))).toBe(false);
    for (const i of a) s.requeue('a', i);
    expect(s.inFlight('a')).toBe(0);
    s.completed('b', b2[0]);
    s.completed('b', b2[1]);
    const b3 = drain(s, 'b');
    expect(b3.sort()).toEqual([...a].sort());
    for (const i of b3) s.completed('b', i);
    expect(s.isDone()).toBe(true);
  });

  it('a holder that lacks a chunk is not asked for it again; rarity follows', () => {
    const s = new DownloadScheduler(2, new Bitfield(2), 1, first);
    s.addHolder('a', Bitfield.full(2));
    s.addHolder('b', Bitfield.full(2));
    const i = s.next('a')!;
    s.requeue('a', i);
    s.lacks('a', i);
    expect(s.holdersOf(i)).toBe(1);
    expect(s.next('a')).toBe(1 - i);
    expect(s.next('b')).toBe(i);
  });

  it('cannot progress when the missing chunks have no live holder and nothing is in flight', () => {
    const s = new DownloadScheduler(3, new Bitfield(3), 4, first);
    s.addHolder('a', bits(3, [0, 1]));
    s.addHolder('b', bits(3, [2]));
    const a = drain(s, 'a');
    expect(s.canProgress()).toBe(true);
    s.removeHolder('b');
    expect(s.canProgress()).toBe(true); // a's chunks are still in flight
    for (const i of a) s.completed('a', i);
    expect(s.isDone()).toBe(false);
    expect(s.canProgress()).toBe(false);
    expect(s.liveHolders()).toEqual(['a']);
  });

  it('spreads ties at random but still prefers rarity', () => {
    const s = new DownloadScheduler(100, new Bitfield(100), 1, () => 0.5);
    s.addHolder('a', Bitfield.full(100));
    expect(s.next('a')).toBe(50);
    const t = new DownloadScheduler(100, new Bitfield(100), 1, () => 0.5);
    t.addHolder('a', Bitfield.full(100));
    t.addHolder('b', bits(100, Array.from({ length: 99 }, (_, i) => i + 1)));
    expect(t.next('a')).toBe(0); // only a has chunk 0
  });

  it('rejects bitfields of the wrong length', () => {
    const s = new DownloadScheduler(3, new Bitfield(3), 1);
    expect(() => s.addHolder('a', new Bitfield(4))).toThrow(RangeError);
    expect(() => new DownloadScheduler(3, new Bitfield(2), 1)).toThrow(RangeError);
  });
});

describe('DownloadScheduler: rarity, pipelines and endgame', () => {
  it('rarest first across a whole swarm: every rare chunk goes before any common one, ties at random', () => {
    // 40 chunks (and a 41st already here); chunks 0-9 are held by one holder only, the rest by three.
    const n = 40;
    let seed = 7;
    const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    const s = new DownloadScheduler(n + 1, bits(n + 1, [n]), n, random);
    s.addHolder('a', bits(n + 1, Array.from({ length: n }, (_, k) => k)));
    const common = Array.from({ length: 30 }, (_, k) => k + 10);
    s.addHolder('b', bits(n + 1, common));
    s.addHolder('c', bits(n + 1, common));
    const order = drain(s, 'a');
    expect(order.slice(0, 10).sort((x, y) => x - y)).toEqual(Array.from({ length: 10 }, (_, k) => k));
    expect(order).toHaveLength(n);
    // Random tie-break: the common chunks do not come out in index order.
    expect(order.slice(10)).not.toEqual(common);
  });

  it('follows fresh HAVEs: a chunk another holder gained stops being rare', () => {
    const s = new DownloadScheduler(3, new Bitfield(3), 1, first);
    s.addHolder('a', Bitfield.full(3));
    s.addHolder('b', bits(3, [0]));
    expect(s.holdersOf(1)).toBe(1);
    s.updateHolder('b', bits(3, [0, 1]));
    expect(s.holdersOf(1)).toBe(2);
    expect(s.holdersOf(0)).toBe(2);
    expect(s.next('a')).toBe(2); // now the only rare one
  });

  it('pipelines are sized per holder', () => {
    const s = new DownloadScheduler(20, new Bitfield(20), 2, first);
    s.addHolder('fast', Bitfield.full(20));
    s.addHolder('slow', Bitfield.full(20));
    s.setDepth('fast', 6);
    s.setDepth('slow', 1);
    expect(drain(s, 'fast')).toHaveLength(6);
    expect(drain(s, 'slow')).toHaveLength(1);
    expect(s.depthOf('fast')).toBe(6);
  });

  it('endgame: only with few chunks missing and no unassigned work; one duplicate per chunk', () => {
    const s = new DownloadScheduler(10, bits(10, [0, 1, 2, 3, 4, 5, 6]), 4, first, 3);
    s.addHolder('a', Bitfield.full(10));
    s.addHolder('b', Bitfield.full(10));
    expect(s.next('a')).toBe(7);
    expect(s.next('a')).toBe(8);
    // b still has unassigned work (chunk 9): not endgame for it.
    expect(s.nextDuplicate('b')).toBeUndefined();
    expect(s.next('b')).toBe(9);
    // Now b has nothing unassigned: it duplicates a's chunks, not its own, each once.
    expect(s.nextDuplicate('b')).toBe(7);
    expect(s.nextDuplicate('b')).toBe(8);
    expect(s.nextDuplicate('b')).toBeUndefined();
    expect(s.requestsFor(7)).toBe(2);
    // a gets b's chunk 9 as its duplicate.
    expect(s.nextDuplicate('a')).toBe(9);
    // b wins chunk 7; a's request for it is abandoned and requeued: the chunk stays done.
    s.completed('b', 7);
    s.requeue('a', 7);
    expect(s.missingCount()).toBe(2);
    expect(s.requestsFor(7)).toBe(0);
    // Both requests for 8 fail: it goes back to the pool only after the last one.
    s.requeue('a', 8);
    expect(s.next('a')).toBeUndefined(); // still in flight at b
    s.requeue('b', 8);
    expect(s.next('a')).toBe(8);
  });

  it('no endgame while many chunks are missing', () => {
    const s = new DownloadScheduler(100, new Bitfield(100), 100, first, 8);
    s.addHolder('a', Bitfield.full(100));
    s.addHolder('b', Bitfield.full(100));
    drain(s, 'a');
    expect(s.nextDuplicate('b')).toBeUndefined();
  });

  it('the eligibility filter skips chunks the caller cannot duplicate yet', () => {
    const s = new DownloadScheduler(3, new Bitfield(3), 4, first, 8);
    s.addHolder('a', Bitfield.full(3));
    s.addHolder('b', Bitfield.full(3));
    drain(s, 'a');
    expect(s.nextDuplicate('b', (i) => i !== 0)).toBe(1);
  });
});

describe('DownloadScheduler: origins, have-updates and TRY_PEERS deferrals', () => {
  it('asks an origin only for chunks no fellow downloader has, so the fetchers trade the rest', () => {
    const s = new DownloadScheduler(6, new Bitfield(6), 8, first);
    s.addHolder('seed', Bitfield.full(6));
    s.addHolder('peer', bits(6, [0, 1, 2]));
    expect(drain(s, 'seed').sort()).toEqual([3, 4, 5]);
    expect(drain(s, 'peer').sort()).toEqual([0, 1, 2]);
  });

  it('an origin gets a chunk again once no live downloader has it (it died or lacked it)', () => {
    const s = new DownloadScheduler(4, new Bitfield(4), 8, first);
    s.addHolder('seed', Bitfield.full(4));
    s.addHolder('p', bits(4, [0, 1]));
    s.addHolder('q', bits(4, [1]));
    expect(drain(s, 'seed').sort()).toEqual([2, 3]);
    s.lacks('p', 0);
    expect(drain(s, 'seed')).toEqual([0]);
    s.removeHolder('q');
    expect(drain(s, 'seed')).toEqual([]); // p still has chunk 1
    s.removeHolder('p');
    expect(drain(s, 'seed')).toEqual([1]);
    expect(s.canProgress()).toBe(true);
  });

  it('a downloader that completes stays preferred to the origin; a holder complete when it joined is an origin', () => {
    const s = new DownloadScheduler(3, new Bitfield(3), 8, first);
    s.addHolder('origin', Bitfield.full(3));
    s.addHolder('p', bits(3, [0]));
    s.addChunks('p', [1, 2]); // p completed meanwhile: it still gets everything it has before the origin
    expect(drain(s, 'origin')).toEqual([]);
    expect(drain(s, 'p').sort()).toEqual([0, 1, 2]);
    const t = new DownloadScheduler(3, new Bitfield(3), 8, first);
    t.addHolder('a', Bitfield.full(3));
    t.addHolder('b', Bitfield.full(3)); // two origins, no downloader: both are asked
    expect(drain(t, 'a')).toHaveLength(3);
  });

  it('have-updates only set bits, and an index past the file is refused', () => {
    const s = new DownloadScheduler(4, new Bitfield(4), 8, first);
    s.addHolder('p', bits(4, [0]));
    s.addChunks('p', [2, 2, 0]);
    expect([0, 1, 2, 3].map((i) => s.holdersOf(i))).toEqual([1, 0, 1, 0]);
    s.addChunks('unknown', [1]); // a holder not (or no longer) in the download: ignored
    expect(() => s.addChunks('p', [4])).toThrow(RangeError);
  });

  it('a deferred chunk is not asked of that holder until the deferral expires; others may have it at once', () => {
    let now = 0;
    const s = new DownloadScheduler(2, new Bitfield(2), 8, first, 32, () => now);
    s.addHolder('seed', Bitfield.full(2));
    const i = s.next('seed')!;
    s.requeue('seed', i);
    s.defer('seed', i, 500);
    expect(s.holdersOf(i)).toBe(1); // not a lack: the seed still has it
    expect(s.canProgress()).toBe(true);
    expect(s.nextDeferralExpiry()).toBe(500);
    expect(drain(s, 'seed')).toEqual([1 - i]);
    expect(s.nextDuplicate('seed')).toBeUndefined(); // nor as an endgame duplicate
    s.addHolder('peer', bits(2, [i]));
    expect(s.next('peer')).toBe(i);
    s.requeue('peer', i);
    s.removeHolder('peer');
    now = 500;
    expect(s.next('seed')).toBe(i);
    expect(s.nextDeferralExpiry()).toBeUndefined();
  });
});
