import { ChunkRepairer } from './chunk-repairer';

const F = 'f'.repeat(64);

/** The repairer's bounds: what a peer's notices can make this node do. */
describe('ChunkRepairer', () => {
  function setup(corrupt: number[] = []) {
    let now = 0;
    const verifies: Array<number[] | undefined> = [];
    let release!: () => void;
    let gate = Promise.resolve();
    const store = {
      verify: async (fileId: string, indexes?: number[]) => {
        verifies.push(indexes);
        await gate;
        const bad = (indexes ?? []).filter((i) => corrupt.includes(i));
        return { fileId, checked: indexes?.length ?? 0, corrupt: bad };
      },
    };
    const forgotten: number[][] = [];
    const r = new ChunkRepairer(store, { forget: async (_f, i) => void forgotten.push(i ?? []) }, undefined, () => now);
    const repaired: number[][] = [];
    r.onCorrupt((_f, i) => repaired.push(i));
    return {
      r,
      verifies,
      forgotten,
      repaired,
      hold: () => (gate = new Promise<void>((res) => (release = res))),
      release: () => release(),
      advance: (ms: number) => (now += ms),
    };
  }
  const settle = () => new Promise((r) => setImmediate(r));

  it('a corrupt chunk is forgotten by the served layout and handed to the downloads', async () => {
    const t = setup([5]);
    t.r.notice(F, 5, 'b');
    await settle();
    expect(t.verifies).toEqual([[5]]);
    expect(t.forgotten).toEqual([[5]]);
    expect(t.repaired).toEqual([[5]]);
  });

  it('the same chunk is checked once at a time, and not again within a minute once found sound', async () => {
    const t = setup([]);
    t.hold();
    t.r.notice(F, 1, 'b');
    t.r.notice(F, 1, 'c');
    t.release();
    await settle();
    expect(t.verifies).toEqual([[1]]);
    t.r.notice(F, 1, 'b');
    await settle();
    expect(t.verifies).toHaveLength(1);
    t.advance(60_001);
    t.r.notice(F, 1, 'b');
    await settle();
    expect(t.verifies).toHaveLength(2);
    expect(t.r.ignoredNotices).toBe(2);
    expect(t.repaired).toEqual([]);
  });

  it('at most 256 checks wait at once; more notices are dropped', async () => {
    const t = setup([]);
    t.hold();
    for (let i = 0; i < 300; i++) t.r.notice(F, i, 'b');
    expect(t.verifies).toHaveLength(256);
    expect(t.r.ignoredNotices).toBe(44);
    t.release();
    await settle();
  });
});
