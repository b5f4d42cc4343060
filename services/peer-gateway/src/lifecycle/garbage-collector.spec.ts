import { SwarmError, type TFileDef } from '@swarmshare/common';
import { GarbageCollector, type GarbageCollectorOptions } from './garbage-collector';

const MiB = 1024 * 1024;
const id = (n: number) => String(n).repeat(64).slice(0, 64);
const file = (n: number, size: number, state: TFileDef['state'] = 'complete'): TFileDef => ({
  fileId: id(n),
  name: `f${n}.bin`,
  size,
  chunkSize: MiB,
  chunkCount: Math.ceil(size / MiB),
  chunksPresent: state === 'complete' ? Math.ceil(size / MiB) : 0,
  state,
});

/** GC's rules with the store, tracker and deleter faked and the clock injected. */
function setup(
  files: TFileDef[],
  o: {
    capacity?: number;
    lastUsed?: Record<string, number>;
    holders?: (fileId: string) => Promise<number>;
    expiresAt?: Record<string, number>;
    /** What the store says a delete freed (a sparse replica's share); default the file's size. */
    freed?: Record<string, number>;
    used?: number;
  } = {},
) {
  const evicted: string[] = [];
  let t = 1_000;
  const opts: GarbageCollectorOptions = {
    nodeId: 'n',
    highPct: 90,
    lowPct: 70,
    store: {
      stats: async () => ({ capacity: o.capacity ?? 100 * MiB, used: o.used ?? files.reduce((n, f) => n + f.size, 0) }),
      files: async () => files,
    },
    evict: async (fileId) => {
      evicted.push(fileId);
      return { deleted: true, bytes: o.freed?.[fileId] ?? files.find((f) => f.fileId === fileId)!.size };
    },
    swarmView: async (fileId) => ({ otherComplete: await (o.holders ?? (async () => 1))(fileId), expiresAt: o.expiresAt?.[fileId] }),
    lastUsed: async (fileId) => o.lastUsed?.[fileId] ?? 0,
    now: () => (t += 5),
  };
  return { gc: new GarbageCollector(opts), evicted };
}

describe('GarbageCollector', () => {
  it('below the high watermark evicts nothing', async () => {
    const { gc, evicted } = setup([file(1, 50 * MiB), file(2, 40 * MiB)]);
    const r = await gc.run('on-demand');
    expect(evicted).toEqual([]);
    expect(r).toMatchObject({ usedBefore: 90 * MiB, usedAfter: 90 * MiB, high: 90 * MiB, low: 70 * MiB, evicted: [] });
  });

  it('above it evicts complete files least recently used first, down to the low watermark, never partial ones', async () => {
    const files = [file(1, 30 * MiB), file(2, 20 * MiB), file(3, 25 * MiB, 'partial'), file(4, 20 * MiB)];
    const { gc, evicted } = setup(files, { lastUsed: { [id(1)]: 300, [id(2)]: 100, [id(4)]: 200 } });
    const r = await gc.run('timer');
    // 95 MiB used: f2 (oldest) then f4 bring it to 55 MiB <= 70 MiB; f1 (newest) stays.
    expect(evicted).toEqual([id(2), id(4)]);
    expect(r.usedAfter).toBe(55 * MiB);
    expect(r.evicted.map((e) => e.reason)).toEqual(['watermark', 'watermark']);
  });

  it("keeps the swarm's last complete copy and files the tracker does not know, and evicts the next candidate instead", async () => {
    const files = [file(1, 40 * MiB), file(2, 30 * MiB), file(3, 25 * MiB)];
    const holders = async (fileId: string) => {
      if (fileId === id(1)) return 0;
      if (fileId === id(2)) throw new SwarmError('NOT_FOUND', 'no such file');
      return 2;
    };
    const { gc, evicted } = setup(files, { holders, lastUsed: { [id(1)]: 1, [id(2)]: 2, [id(3)]: 3 } });
    const r = await gc.run('on-demand');
    expect(evicted).toEqual([id(3)]);
    expect(r.kept).toEqual([
      { fileId: id(1), reason: "the swarm's last complete copy" },
      { fileId: id(2), reason: expect.stringMatching(/not registered/) },
    ]);
    expect(r.usedAfter).toBe(70 * MiB);
  });

  it('evicts nothing more once the tracker does not answer', async () => {
    const files = [file(1, 50 * MiB), file(2, 45 * MiB)];
    const { gc, evicted } = setup(files, {
      holders: async () => {
        throw new SwarmError('UNAVAILABLE', 'nothing answers on swarm.tracker.file.get');
      },
    });
    const r = await gc.run('timer');
    expect(evicted).toEqual([]);
    expect(r.kept.map((k) => k.fileId)).toEqual([id(1), id(2)]);
    expect(r.kept[0].reason).toMatch(/tracker did not answer/);
  });

  it('evicts every file past its TTL below the watermarks, even the last copy, a pinned one or a partial one; not the others', async () => {
    const files = [file(1, 10 * MiB), { ...file(2, 10 * MiB), pinned: true }, file(3, 10 * MiB, 'partial'), file(4, 10 * MiB), file(5, 10 * MiB)];
    // The injected clock reads 1005 at the start of the run: 1000 has passed, 5000 has not.
    const expiresAt = { [id(1)]: 1000, [id(2)]: 1000, [id(3)]: 1005, [id(4)]: 5000 };
    const { gc, evicted } = setup(files, { expiresAt, holders: async () => 0 });
    const r = await gc.run('timer');
    expect(evicted).toEqual([id(1), id(2), id(3)]);
    expect(r.evicted.map((e) => e.reason)).toEqual(['ttl', 'ttl', 'ttl']);
    expect(r).toMatchObject({ usedBefore: 50 * MiB, usedAfter: 20 * MiB, kept: [] });
  });

  it('counts what the store freed: a partial replica past its TTL frees its share, not its file\'s size', async () => {
    const files = [file(1, 10 * MiB, 'partial'), file(2, 10 * MiB)];
    const { gc, evicted } = setup(files, { expiresAt: { [id(1)]: 1000 }, holders: async () => 0, freed: { [id(1)]: 4 * MiB }, used: 14 * MiB });
    const r = await gc.run('timer');
    expect(evicted).toEqual([id(1)]);
    expect(r).toMatchObject({ usedBefore: 14 * MiB, usedAfter: 10 * MiB, evicted: [{ fileId: id(1), bytes: 4 * MiB, reason: 'ttl' }] });
  });

  it('a pinned file survives watermark GC; the unpinned ones are evicted in its place', async () => {
    const files = [{ ...file(1, 40 * MiB), pinned: true }, file(2, 30 * MiB), file(3, 25 * MiB)];
    const { gc, evicted } = setup(files, { lastUsed: { [id(1)]: 1, [id(2)]: 2, [id(3)]: 3 } });
    const r = await gc.run('on-demand');
    expect(evicted).toEqual([id(2)]);
    expect(r.kept).toEqual([{ fileId: id(1), reason: 'pinned on this node' }]);
    expect(r.usedAfter).toBe(65 * MiB);
  });

  it('checks no expiry when the tracker does not answer (nothing is evicted by TTL that run)', async () => {
    const { gc, evicted } = setup([file(1, 10 * MiB)], {
      expiresAt: { [id(1)]: 1 },
      holders: async () => {
        throw new SwarmError('UNAVAILABLE', 'nothing answers on swarm.tracker.file.get');
      },
    });
    expect((await gc.run('timer')).evicted).toEqual([]);
    expect(evicted).toEqual([]);
  });

  it('one run at a time: a second caller shares the run in progress', async () => {
    const { gc } = setup([file(1, 95 * MiB)]);
    const [a, b] = [gc.run('timer'), gc.run('on-demand')];
    expect(a).toBe(b);
    await a;
  });
});
