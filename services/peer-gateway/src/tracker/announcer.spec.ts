import { type Announce, SwarmError } from '@swarmshare/common';
import { Announcer } from './announcer';

const id = (c: string) => c.repeat(64);

describe('Announcer', () => {
  const files = [
    { fileId: id('a'), name: 'a', size: 1, chunkSize: 65536, chunkCount: 1, chunksPresent: 1, state: 'complete' as const },
    { fileId: id('b'), name: 'b', size: 1, chunkSize: 65536, chunkCount: 1, chunksPresent: 0, state: 'partial' as const },
  ];
  const stats = { nodeId: 'n1', capacity: 1000, used: 10, free: 990, files: 2 };
  /** The tracker's reply to an announce (nothing unknown unless given). */
  const reply = (x: Announce, unknown: string[] = []) => ({ nodeId: x.nodeId, address: x.address, capacity: x.capacity, free: x.free, lastSeen: 1, files: 2, unknown, deleted: [] as string[] });

  it('announces capacity, free space, complete and partial files at the advertised address', async () => {
    const sent: Announce[] = [];
    const a = new Announcer({ stats: async () => stats, files: async () => files }, { announce: async (x) => (sent.push(x), reply(x)) }, { nodeId: 'n1', address: () => '10.0.0.1:7881', intervalMs: 1000 });
    expect(await a.announce()).toBe(true);
    expect(sent).toEqual([{ nodeId: 'n1', address: '10.0.0.1:7881', capacity: 1000, free: 990, complete: [id('a')], partial: [id('b')], pinned: [] }]);
  });

  it('announces the files pinned here, and announceFresh reads the files after an announce already in flight', async () => {
    let pinned = false;
    const sent: Announce[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const store = { stats: async () => stats, files: async () => files.map((f) => (f.fileId === id('a') && pinned ? { ...f, pinned: true } : f)) };
    const a = new Announcer(store, { announce: async (x) => (sent.push(x), await gate, reply(x)) }, { nodeId: 'n1', address: () => 'h:1', intervalMs: 1000 });
    const before = a.announce();
    await new Promise((r) => setImmediate(r));
    pinned = true;
    const fresh = a.announceFresh();
    release();
    expect(await before).toBe(true);
    expect(await fresh).toBe(true);
    expect(sent.map((x) => x.pinned)).toEqual([[], [id('a')]]);
  });

  it('survives a tracker that is down, warns once per outage, and recovers', async () => {
    let up = false;
    const warn = jest.fn();
    const info = jest.fn();
    const a = new Announcer(
      { stats: async () => stats, files: async () => files },
      {
        announce: async (x) => {
          if (!up) throw new SwarmError('UNAVAILABLE', 'nothing answers');
          return reply(x);
        },
      },
      { nodeId: 'n1', address: () => 'h:1', intervalMs: 1000, logger: { warn, info } as never },
    );
    expect(await a.announce()).toBe(false);
    expect(await a.announce()).toBe(false);
    expect(warn).toHaveBeenCalledTimes(1);
    up = true;
    expect(await a.announce()).toBe(true);
    expect(info).toHaveBeenCalledTimes(1);
  });

  it('hands the files the tracker does not know to the re-registrar, with what this node holds in full', async () => {
    const reRegister = jest.fn(async () => undefined);
    const a = new Announcer(
      { stats: async () => stats, files: async () => files },
      { announce: async (x) => reply(x, [id('a'), id('b')]) },
      { nodeId: 'n1', address: () => 'h:1', intervalMs: 1000, reRegistrar: { reRegister } },
    );
    expect(await a.announce()).toBe(true);
    expect(reRegister).toHaveBeenCalledWith([id('a'), id('b')], new Set([id('a')]));
  });

  it('announces at start and then every interval until stopped', async () => {
    jest.useFakeTimers();
    try {
      let calls = 0;
      const a = new Announcer({ stats: async () => stats, files: async () => [] }, { announce: async (x) => (calls++, reply(x)) }, { nodeId: 'n1', address: () => 'h:1', intervalMs: 500 });
      a.start();
      await jest.advanceTimersByTimeAsync(1);
      expect(calls).toBe(1);
      await jest.advanceTimersByTimeAsync(1000);
      expect(calls).toBe(3);
      a.stop();
      await jest.advanceTimersByTimeAsync(2000);
      expect(calls).toBe(3);
    } finally {
      jest.useRealTimers();
    }
  });
});
