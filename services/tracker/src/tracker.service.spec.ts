import { createLogger, type PeerRecord, SwarmError } from '@swarmshare/common';
import type { Clock } from './clock';
import type { StoredFile, StoredFileMeta } from './file-record';
import type { TrackerRepository } from './tracker.repository';
import { UNKNOWN_FILE } from './tracker.repository';
import { TrackerService } from './tracker.service';

/** TrackerService's rules with the repository mocked and the clock fixed. */
const TTL = 10_000;
const F1 = '1'.repeat(64);
const F2 = '2'.repeat(64);
const F3 = '3'.repeat(64);

function mockRepo() {
  return {
    recordAnnounce: jest.fn(async (_peer: PeerRecord, _held: ReadonlyMap<string, 'c' | 'p'>): Promise<Map<string, 'c' | 'p'>> => new Map()),
    getPeers: jest.fn(async (_ids: readonly string[]): Promise<Map<string, PeerRecord>> => new Map()),
    peersSeenSince: jest.fn(async (_cutoff: number): Promise<PeerRecord[]> => []),
    expiredPeerIds: jest.fn(async (_cutoff: number, _limit: number): Promise<string[]> => []),
    prunePeer: jest.fn(async (_nodeId: string, _cutoff: number) => true),
    createFile: jest.fn(async (m: StoredFileMeta) => m),
    indexFile: jest.fn(async (_fileId: string, _name: string, _at: number) => undefined),
    fileIds: jest.fn(async (): Promise<string[]> => []),
    fileIdsByName: jest.fn(async (_name: string): Promise<string[]> => []),
    readFile: jest.fn(async (_fileId: string): Promise<StoredFile | null> => null),
    updateSwarm: jest.fn(async (_fileId: string, _op: string, _nodeId: string, _now: number): Promise<number> => 0),
    dropFromSwarm: jest.fn(async (_fileId: string, _nodeIds: readonly string[]) => undefined),
    addReplicas: jest.fn(async (_fileId: string, _holders: readonly string[], _replicas: number) => undefined),
    reserve: jest.fn(async (..._a: unknown[]): Promise<[number, number]> => [1, 0]),
    release: jest.fn(async (_uploadId: string) => 0),
    reservations: jest.fn(async (_ids: readonly string[], _now: number): Promise<Array<{ uploadId: string; nodeId: string; bytes: number; expiresAt: number }>> => []),
    recordAck: jest.fn(async (..._a: unknown[]) => undefined),
    acks: jest.fn(async (_fileId: string) => []),
    tombstoned: jest.fn(async (_ids: readonly string[], _since: number): Promise<string[]> => []),
    clearTombstone: jest.fn(async (_fileId: string) => true),
    setTombstone: jest.fn(async (_fileId: string, _at: number) => undefined),
    removeFile: jest.fn(async (_fileId: string) => true),
    setExpiry: jest.fn(async (_fileId: string, _at: number) => undefined),
  };
}

let now: number;
let repo: ReturnType<typeof mockRepo>;
let service: TrackerService;

beforeEach(() => {
  now = 1_000_000;
  repo = mockRepo();
  const clock = { now: () => now } as Clock;
  service = new TrackerService(repo as unknown as TrackerRepository, clock, { PEER_TTL_MS: TTL }, createLogger('tracker-test', 'silent'));
});

const peer = (nodeId: string, lastSeen: number, free = 1): PeerRecord => ({ nodeId, address: `${nodeId}:1`, capacity: 10, free, lastSeen, files: 0 });
const meta = (fileId: string, over: Partial<StoredFileMeta> = {}): StoredFileMeta => ({
  fileId,
  name: 'a.bin',
  size: 100,
  chunkSize: 65536,
  chunkCount: 1,
  hash: 'a'.repeat(64),
  registeredAt: 5,
  ...over,
});

describe('announce', () => {
  it('stores the peer stamped with the clock, applies the reconcile plan, and prunes expired peers', async () => {
    repo.recordAnnounce.mockResolvedValue(new Map([[F3, 'c']]));
    repo.expiredPeerIds.mockResolvedValue(['old']);
    const rec = await service.announce({ nodeId: 'n1', address: 'h:1', capacity: 10, free: 4, complete: [F1, F1], partial: [F2] });

    const { unknown, deleted, ...stored } = rec;
    expect(deleted).toEqual([]);
    expect(stored).toEqual({ nodeId: 'n1', address: 'h:1', capacity: 10, free: 4, lastSeen: now, files: 2 });
    expect(unknown).toEqual([]);
    // No `pinned` in the announce (an older gateway): the tracker keeps no pins for it.
    expect(repo.recordAnnounce).toHaveBeenCalledWith(stored, new Map([[F1, 'c'], [F2, 'p']]), undefined);
    expect(repo.updateSwarm.mock.calls).toEqual([
      [F1, 'seed', 'n1', now],
      [F2, 'partial', 'n1', now],
    ]);
    expect(repo.dropFromSwarm).toHaveBeenCalledWith(F3, ['n1']);
    expect(repo.expiredPeerIds).toHaveBeenCalledWith(now - TTL, expect.any(Number));
    expect(repo.prunePeer).toHaveBeenCalledWith('old', now - TTL);
  });

  it('keeps the pins an announce lists, only of files the node holds', async () => {
    await service.announce({ nodeId: 'n1', address: 'h:1', capacity: 1, free: 1, complete: [F1], partial: [], pinned: [F1, F2] });
    expect(repo.recordAnnounce).toHaveBeenCalledWith(expect.objectContaining({ nodeId: 'n1' }), new Map([[F1, 'c']]), [F1]);
  });

  it('lists the file ids the tracker does not know in its reply, so the node can register them again', async () => {
    repo.updateSwarm.mockResolvedValue(UNKNOWN_FILE);
    await expect(service.announce({ nodeId: 'n1', address: 'h:1', capacity: 1, free: 1, complete: [F1], partial: [F2] })).resolves.toMatchObject({ nodeId: 'n1', unknown: [F1, F2] });
  });

  it('answers files deleted everywhere (tombstones younger than TOMBSTONE_TTL_MS) as `deleted`, not `unknown` (issue 14)', async () => {
    repo.updateSwarm.mockResolvedValue(UNKNOWN_FILE);
    repo.tombstoned.mockResolvedValue([F2]);
    await expect(service.announce({ nodeId: 'n1', address: 'h:1', capacity: 1, free: 1, complete: [F1], partial: [F2] })).resolves.toMatchObject({ unknown: [F1], deleted: [F2] });
    expect(repo.tombstoned).toHaveBeenCalledWith([F1, F2], now - 604_800_000);
  });
});

describe('registerFile of a file deleted everywhere (issue 14)', () => {
  const body = { fileId: F1, name: 'a.bin', size: 100, chunkSize: 65536, chunkCount: 1, hash: 'a'.repeat(64), nodeId: 'n1' };
  it('refuses a node restoring it, and lets a new share bring it back (clearing the tombstone)', async () => {
    repo.tombstoned.mockResolvedValue([F1]);
    await expect(service.registerFile({ ...body, restore: true })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(repo.createFile).not.toHaveBeenCalled();
    repo.readFile.mockResolvedValue({ meta: meta(F1), seeders: ['n1'], partial: [], leechers: [], downloads: 0 });
    await service.registerFile(body);
    expect(repo.clearTombstone).toHaveBeenCalledWith(F1);
    expect(repo.createFile).toHaveBeenCalled();
  });
});

describe('registerFile', () => {
  const body = { fileId: F1, name: 'a.bin', size: 100, chunkSize: 65536, chunkCount: 1, hash: 'a'.repeat(64), nodeId: 'n1' };

  it('creates the record, indexes it, seeds the registering node and returns the assembled record', async () => {
    repo.readFile.mockResolvedValue({ meta: meta(F1, { registeredAt: now }), seeders: ['n1'], leechers: [], downloads: 0 });
    repo.getPeers.mockResolvedValue(new Map([['n1', peer('n1', now)]]));
    const rec = await service.registerFile(body);
    expect(repo.createFile).toHaveBeenCalledWith(meta(F1, { registeredAt: now }));
    expect(repo.indexFile).toHaveBeenCalledWith(F1, 'a.bin', now);
    expect(repo.updateSwarm).toHaveBeenCalledWith(F1, 'seed', 'n1', now);
    expect(rec.seeders).toEqual([{ nodeId: 'n1', address: 'n1:1' }]);
  });

  it('keeps the first name and registration time, and indexes a second name too', async () => {
    repo.createFile.mockResolvedValue(meta(F1, { name: 'first.bin', registeredAt: 42 }));
    repo.readFile.mockResolvedValue({ meta: meta(F1, { name: 'first.bin', registeredAt: 42 }), seeders: [], leechers: [], downloads: 0 });
    const rec = await service.registerFile({ ...body, name: 'second.bin' });
    expect(rec).toMatchObject({ name: 'first.bin', registeredAt: 42 });
    expect(repo.indexFile.mock.calls).toEqual([
      [F1, 'second.bin', 42],
      [F1, 'first.bin', 42],
    ]);
  });

  it('refuses a chunk count that does not match size and chunk size', async () => {
    await expect(service.registerFile({ ...body, size: 200_000 })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    expect(repo.createFile).not.toHaveBeenCalled();
  });

  it('refuses an id already registered with different content', async () => {
    repo.createFile.mockResolvedValue(meta(F1, { hash: 'b'.repeat(64) }));
    const err = await service.registerFile(body).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SwarmError);
    expect(err).toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('hash') });
    expect(repo.updateSwarm).not.toHaveBeenCalled();
  });
});

describe('TTL (issue 14)', () => {
  const body = { fileId: F1, name: 'a.bin', size: 100, chunkSize: 65536, chunkCount: 1, hash: 'a'.repeat(64), nodeId: 'n1' };

  it('a registration with ttlMs stores the expiry on the tracker clock; sharing again with a TTL renews it, without one keeps it', async () => {
    repo.readFile.mockResolvedValue({ meta: meta(F1), seeders: ['n1'], leechers: [], downloads: 0 });
    await service.registerFile({ ...body, ttlMs: 60_000 });
    expect(repo.createFile).toHaveBeenCalledWith(meta(F1, { registeredAt: now, expiresAt: now + 60_000 }));
    expect(repo.setExpiry).not.toHaveBeenCalled();
    // Already registered (with another expiry): renewed.
    repo.createFile.mockResolvedValue(meta(F1, { expiresAt: 7 }));
    await service.registerFile({ ...body, ttlMs: 60_000 });
    expect(repo.setExpiry).toHaveBeenCalledWith(F1, now + 60_000);
    repo.setExpiry.mockClear();
    await service.registerFile(body);
    expect(repo.setExpiry).not.toHaveBeenCalled();
  });

  it('keeps an expired record while a live peer holds it (its GC reads the expiry), and refuses to start a download of it', async () => {
    repo.readFile.mockResolvedValue({ meta: meta(F1, { expiresAt: now }), seeders: ['n1'], leechers: [], downloads: 0 });
    repo.getPeers.mockResolvedValue(new Map([['n1', peer('n1', now)]]));
    expect(await service.getFile(F1)).toMatchObject({ expiresAt: now, seeders: [{ nodeId: 'n1' }] });
    await expect(service.downloadStarted(F1, 'n2')).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringMatching(/expired at .*it is not fetched any more/) });
    expect(repo.updateSwarm).not.toHaveBeenCalled();
    expect(repo.removeFile).not.toHaveBeenCalled();
  });

  it('forgets an expired record once no live peer holds it, with a tombstone so a holder that was away deletes its copy', async () => {
    repo.fileIds.mockResolvedValue([F1, F2]);
    repo.readFile.mockImplementation(async (id) => ({ meta: meta(id, { expiresAt: id === F1 ? now - 1 : now + 1 }), seeders: ['away'], leechers: [], downloads: 0 }));
    const list = await service.listFiles();
    expect(list.map((f) => f.fileId)).toEqual([F2]);
    expect(repo.setTombstone).toHaveBeenCalledWith(F1, now);
    expect(repo.removeFile).toHaveBeenCalledWith(F1);
    expect(repo.removeFile).toHaveBeenCalledTimes(1);
  });
});

describe('file records', () => {
  it('answers NOT_FOUND for an unknown id', async () => {
    await expect(service.getFile(F1)).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining(F1) });
  });

  it('lists only live swarm members and prunes the dead ones from the file', async () => {
    repo.readFile.mockResolvedValue({ meta: meta(F1), seeders: ['live', 'dead', 'never'], leechers: [{ nodeId: 'gone', since: 1 }], downloads: 3 });
    repo.getPeers.mockResolvedValue(
      new Map([
        ['live', peer('live', now - TTL)],
        ['dead', peer('dead', now - TTL - 1)],
        ['gone', peer('gone', 0)],
      ]),
    );
    const rec = await service.getFile(F1);
    expect(rec.seeders).toEqual([{ nodeId: 'live', address: 'live:1' }]);
    expect(rec.leechers).toEqual([]);
    expect(rec.downloads).toBe(3);
    expect(repo.getPeers).toHaveBeenCalledWith(expect.arrayContaining(['live', 'dead', 'never', 'gone']));
    expect(repo.dropFromSwarm).toHaveBeenCalledWith(F1, expect.arrayContaining(['dead', 'never', 'gone']));
    expect(repo.dropFromSwarm.mock.calls[0][1]).toHaveLength(3);
  });

  it('lists files oldest first, skipping ids whose record is gone, with one peer lookup for all', async () => {
    repo.fileIds.mockResolvedValue([F1, F2, F3]);
    repo.readFile.mockImplementation(async (id) => {
      if (id === F2) return null;
      return { meta: meta(id, { registeredAt: id === F1 ? 9 : 1 }), seeders: ['n'], leechers: [], downloads: 0 };
    });
    const list = await service.listFiles();
    expect(list.map((f) => f.fileId)).toEqual([F3, F1]);
    expect(repo.getPeers).toHaveBeenCalledTimes(1);
  });
});

describe('listPeers', () => {
  it('returns live peers only, most free space first', async () => {
    repo.peersSeenSince.mockResolvedValue([peer('a', now, 1), peer('b', now - TTL - 1, 99), peer('c', now - 5, 50)]);
    expect((await service.listPeers()).map((p) => p.nodeId)).toEqual(['c', 'a']);
    expect(repo.peersSeenSince).toHaveBeenCalledWith(now - TTL);
  });
});

describe('downloads and events', () => {
  it('downloadStarted/Completed on an unknown file are NOT_FOUND', async () => {
    repo.updateSwarm.mockResolvedValue(UNKNOWN_FILE);
    await expect(service.downloadStarted(F1, 'n')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(service.downloadCompleted({ fileId: F1, nodeId: 'n', from: [] })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('downloadStarted makes a leecher; downloadCompleted applies the counted transition', async () => {
    repo.readFile.mockResolvedValue({ meta: meta(F1), seeders: [], leechers: [], downloads: 0 });
    await service.downloadStarted(F1, 'n');
    await service.downloadCompleted({ fileId: F1, nodeId: 'n', from: [{ nodeId: 's', bytes: 10 }] });
    expect(repo.updateSwarm.mock.calls).toEqual([
      [F1, 'leech', 'n', now],
      [F1, 'complete', 'n', now],
    ]);
  });

  it('file.completed seeds without counting, and ignores an unknown file', async () => {
    await service.fileCompleted({ fileId: F1, nodeId: 'n' });
    expect(repo.updateSwarm).toHaveBeenCalledWith(F1, 'seed', 'n', now);
    repo.updateSwarm.mockResolvedValue(UNKNOWN_FILE);
    await expect(service.fileCompleted({ fileId: F2, nodeId: 'n' })).resolves.toBeUndefined();
  });
});

describe('replication (issue 3)', () => {
  it('candidates: live peers minus reservations, only those with room, most available first', async () => {
    repo.peersSeenSince.mockResolvedValue([peer('a', now, 100), peer('b', now, 300), peer('c', now, 50), peer('gone', now - TTL - 1, 999)]);
    repo.reservations.mockResolvedValue([
      { uploadId: 'up-1', nodeId: 'b', bytes: 250, expiresAt: now + 1 },
      { uploadId: 'up-2', nodeId: 'c', bytes: 50, expiresAt: now + 1 },
    ]);
    const c = await service.candidates(['x']);
    expect(c.map((x) => [x.nodeId, x.available, x.reserved])).toEqual([
      ['a', 100, 0],
      ['b', 50, 250],
    ]);
    expect((await service.candidates(['a'])).map((x) => x.nodeId)).toEqual(['b']);
  });

  it('reserve: stamps the expiry, and maps the script result to NO_SPACE / UNAVAILABLE', async () => {
    const svc = new TrackerService(repo as unknown as TrackerRepository, { now: () => now } as Clock, { PEER_TTL_MS: TTL, RESERVATION_TTL_MS: 500 }, createLogger('t', 'silent'));
    expect(await svc.reserve({ uploadId: 'up-aaaaaaaa', nodeId: 'b', bytes: 10 })).toEqual({ uploadId: 'up-aaaaaaaa', nodeId: 'b', bytes: 10, expiresAt: now + 500 });
    expect(repo.reserve).toHaveBeenCalledWith('b', 'up-aaaaaaaa', 10, now, now + 500, now - TTL);
    repo.reserve.mockResolvedValueOnce([0, 7]);
    await expect(svc.reserve({ uploadId: 'up-aaaaaaaa', nodeId: 'b', bytes: 10 })).rejects.toMatchObject({ code: 'NO_SPACE', message: expect.stringMatching(/only 7 B available/) });
    repo.reserve.mockResolvedValueOnce([-1, 0]);
    await expect(svc.reserve({ uploadId: 'up-aaaaaaaa', nodeId: 'b', bytes: 10 })).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });

  it('registerFile with holders: they become replica holders, partial until they announce the whole file (the registering node is not one twice)', async () => {
    repo.readFile.mockResolvedValue({ meta: meta(F1), seeders: [], leechers: [], downloads: 0 });
    await service.registerFile({ fileId: F1, name: 'a.bin', size: 100, chunkSize: 65536, chunkCount: 1, hash: 'a'.repeat(64), nodeId: 'a', holders: ['b', 'a', 'c', 'b'], replicas: 2 });
    expect(repo.addReplicas).toHaveBeenCalledWith(F1, ['b', 'c'], 2);
    expect(repo.updateSwarm.mock.calls.map((c) => [c[1], c[2]])).toEqual([
      ['seed', 'a'],
      ['partial', 'b'],
      ['partial', 'c'],
    ]);
  });

  it('downloadAcked counts like downloadCompleted and records what the holder served; unknown file is NOT_FOUND', async () => {
    repo.readFile.mockResolvedValue({ meta: meta(F1), seeders: [], leechers: [], downloads: 1 });
    repo.updateSwarm.mockResolvedValueOnce(1);
    await service.downloadAcked({ fileId: F1, nodeId: 'd', holder: 'b', bytes: 5, chunks: 1 });
    expect(repo.updateSwarm).toHaveBeenCalledWith(F1, 'complete', 'd', now);
    expect(repo.recordAck).toHaveBeenCalledWith(F1, 'd', 'b', 5);
    repo.updateSwarm.mockResolvedValueOnce(UNKNOWN_FILE);
    await expect(service.downloadAcked({ fileId: F2, nodeId: 'd', holder: 'b', bytes: 5, chunks: 1 })).rejects.toBeInstanceOf(SwarmError);
  });
});

