import type { PeerRequestHandler, ReadRegion } from '@swarmshare/common';
import { TokenBucket } from './token-bucket';
import { UploadGate, UploadSlots } from './upload-slots';

describe('UploadSlots', () => {
  it('serves at most `slots` peers at once; the next waits and gets the freed slot', async () => {
    const s = new UploadSlots(2);
    const ra = await s.acquire('a');
    const rb = await s.acquire('b');
    let cServed = false;
    const c = s.acquire('c').then((r) => ((cServed = true), r));
    await new Promise((r) => setImmediate(r));
    expect(cServed).toBe(false);
    expect(s.queued).toBe(1);
    ra();
    const rc = await c;
    expect(cServed).toBe(true);
    expect(s.active).toBe(2);
    rb();
    rc();
    expect(s.active).toBe(0);
  });

  it('a peer already served does not take a second slot', async () => {
    const s = new UploadSlots(1);
    const r1 = await s.acquire('a');
    const r2 = await s.acquire('a'); // prefetch of its next chunk: same slot
    expect(s.active).toBe(1);
    r1();
    r1(); // releasing twice is harmless
    expect(s.active).toBe(1);
    r2();
    expect(s.active).toBe(0);
  });

  it('slots rotate: a served peer queues behind waiting peers for its next chunk', async () => {
    const s = new UploadSlots(1);
    const order: string[] = [];
    const a1 = await s.acquire('a');
    const b = s.acquire('b').then((r) => (order.push('b'), r));
    const a2 = s.acquire('a').then((r) => (order.push('a'), r)); // a's prefetch waits behind b
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual([]);
    a1();
    (await b)();
    (await a2)();
    expect(order).toEqual(['b', 'a']);
    expect(s.active).toBe(0);
  });

  it('0 = unlimited; a negative or fractional count is refused', async () => {
    const s = new UploadSlots(0);
    await Promise.all(Array.from({ length: 50 }, (_, i) => s.acquire(`p${i}`)));
    expect(s.active).toBe(50);
    expect(() => new UploadSlots(-1)).toThrow(RangeError);
    expect(() => new UploadSlots(1.5)).toThrow(RangeError);
  });
});

describe('UploadGate', () => {
  const region = (n: number, released: string[]): ReadRegion => ({ data: Buffer.alloc(n), release: async () => void released.push('released') });

  it('wraps only openRead: it holds a slot until the region is released', async () => {
    const released: string[] = [];
    const base = { openRead: async () => region(10, released), have: async () => ({ chunkCount: 1, bitfield: 'gA==' }) } as unknown as PeerRequestHandler;
    const gate = new UploadGate(new UploadSlots(1));
    const forA = gate.forPeer(base, () => 'a');
    const forB = gate.forPeer(base, () => 'b');
    const r = await forA.openRead('f', 0);
    expect(await forB.have('f')).toEqual({ chunkCount: 1, bitfield: 'gA==' });
    let bGot = false;
    const b = forB.openRead('f', 0).then((x) => ((bGot = true), x));
    await new Promise((r2) => setTimeout(r2, 10));
    expect(bGot).toBe(false);
    await r.release();
    await (await b).release();
    expect(released).toEqual(['released', 'released']);
  });

  it('takes upload tokens for every chunk served, and gives the slot back when the store fails', async () => {
    const bucket = new TokenBucket(1_000_000, 100);
    const slots = new UploadSlots(1);
    const base = {
      openRead: async (_f: string, i: number) => {
        if (i === 1) throw new Error('store down');
        return region(1000, []);
      },
    } as unknown as PeerRequestHandler;
    const h = new UploadGate(slots, bucket).forPeer(base, () => 'a');
    await (await h.openRead('f', 0)).release();
    expect(bucket.available()).toBeLessThan(0); // 1000 bytes spent from a 100-byte burst
    await expect(h.openRead('f', 1)).rejects.toThrow('store down');
    expect(slots.active).toBe(0);
  });
});
