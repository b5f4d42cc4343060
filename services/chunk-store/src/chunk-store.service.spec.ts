import pino from 'pino';
import { Bitfield, computeFileId, type Lease, type MappingRegistry, type RegionHasher, sha256Hex } from '@swarmshare/common';
import type { ChunkIndexRepository } from './chunk-index.repository';
import { ChunkStoreService } from './chunk-store.service';
import type { EventPublisher } from './event-publisher';
import type { FileRecordRepository } from './file-record.repository';
import type { IndexRebuilder } from './index-rebuilder';
import { KeyedMutex } from './keyed-mutex';
import type { LeaseRepository } from './lease.repository';

/** The close path with every repository mocked: what happens, and in which order. */
const K64 = 64 * 1024;
const chunk = Buffer.alloc(K64, 3);
const hash = sha256Hex(chunk);
const fileId = computeFileId(2 * K64, K64, [hash, hash]);

function setup(opts: { region: Buffer; bitsBefore?: number[]; now?: number }) {
  const calls: string[] = [];
  const bits = new Bitfield(2);
  for (const i of opts.bitsBefore ?? []) bits.set(i);
  const lease: Lease = { leaseId: 'L', fileId, index: 1, mode: 'write', path: '/d/files/x/data', offset: K64, length: K64, expiresAt: 1_000 };
  const record = (name: string, value?: unknown) => jest.fn(async () => (calls.push(name), value));
  const after = new Bitfield(2);
  for (const i of [...(opts.bitsBefore ?? []), 1]) after.set(i);
  const deps = {
    disk: { syncData: record('disk.syncData'), setBits: record('disk.setBits', { changed: [1], bits: after }), dataPath: () => lease.path } as unknown as FileRecordRepository,
    index: {
      getFile: jest.fn(async () => ({ fileId, name: 'f', size: 2 * K64, chunkSize: K64, chunkCount: 2, bits })),
      getManifest: jest.fn(async () => ({ fileId, name: 'f', size: 2 * K64, chunkSize: K64, hashes: [hash, hash] })),
      setBitAndUnlock: record('index.setBitAndUnlock', true),
    } as unknown as ChunkIndexRepository,
    leases: {
      claim: record('leases.claim', { state: 'open', lease, ownsLock: true }),
      unlock: record('leases.unlock'),
    } as unknown as LeaseRepository,
    maps: { view: jest.fn(() => (calls.push('maps.view'), opts.region)) } as unknown as MappingRegistry,
    // The bytes the store holds are `region`: what its hasher reads back from the data file.
    hasher: { digest: jest.fn(async () => (calls.push('hasher.digest'), sha256Hex(opts.region))) } as unknown as RegionHasher,
    events: {
      fileCompleted: jest.fn(() => calls.push('events.fileCompleted')),
      chunksCorrupt: jest.fn(() => calls.push('events.chunksCorrupt')),
    } as EventPublisher,
    rebuilder: { rebuild: jest.fn(), ensure: jest.fn(), stop: jest.fn() } as unknown as IndexRebuilder,
    fileLocks: new KeyedMutex(),
    logger: pino({ level: 'silent' }),
    now: () => opts.now ?? 500,
  };
  const store = new ChunkStoreService({ nodeId: 'n1', capacity: 0, leaseTtlMs: 1000 }, deps);
  return { store, calls, deps };
}

describe('ChunkStoreService.chunkClose (mocked repositories)', () => {
  test('verified write: data synced, then the bit on disk, then in the index with the lock released, then the events', async () => {
    const { store, calls } = setup({ region: Buffer.from(chunk), bitsBefore: [0] });
    await expect(store.chunkClose('L', K64)).resolves.toEqual({ leaseId: 'L', fileId, index: 1, available: true, fileComplete: true });
    expect(calls).toEqual(['leases.claim', 'hasher.digest', 'disk.syncData', 'disk.setBits', 'index.setBitAndUnlock', 'events.fileCompleted']);
  });

  test('a write lease that lost its lock (expired and taken over, or cleared by a restart): LEASE_EXPIRED, nothing touched', async () => {
    const { store, calls, deps } = setup({ region: Buffer.from(chunk) });
    (deps.leases.claim as jest.Mock).mockResolvedValue({ state: 'open', lease: { leaseId: 'L', fileId, index: 1, mode: 'write', path: '/d', offset: K64, length: K64, expiresAt: 1_000 }, ownsLock: false });
    await expect(store.chunkClose('L', K64)).rejects.toMatchObject({ code: 'LEASE_EXPIRED' });
    expect(calls).toEqual([]);
  });

  test('hash mismatch: nothing persisted, lock released, no event', async () => {
    const region = Buffer.from(chunk);
    region[0] ^= 1;
    const { store, calls } = setup({ region });
    await expect(store.chunkClose('L', K64)).rejects.toMatchObject({ code: 'HASH_MISMATCH' });
    expect(calls).toEqual(['leases.claim', 'hasher.digest', 'leases.unlock']);
  });

  test("a writer's digest is only a cross-check: the right digest over the wrong bytes is HASH_MISMATCH, nothing persisted (issue 11)", async () => {
    const region = Buffer.from(chunk);
    region[0] ^= 1;
    const { store, calls } = setup({ region, bitsBefore: [0] });
    await expect(store.chunkClose('L', K64, hash)).rejects.toMatchObject({ code: 'HASH_MISMATCH' });
    expect(calls).toContain('hasher.digest');
    expect(calls).not.toContain('disk.setBits');
  });

  test("a writer's digest that does not match: HASH_MISMATCH, nothing persisted, lock released", async () => {
    const { store, calls } = setup({ region: Buffer.from(chunk) });
    await expect(store.chunkClose('L', K64, 'ee'.repeat(32))).rejects.toMatchObject({ code: 'HASH_MISMATCH' });
    // The store hashes the bytes it holds (hasher.digest) and the writer's digest disagrees with them.
    expect(calls).toEqual(['leases.claim', 'hasher.digest', 'leases.unlock']);
  });

  test('wrong length: not even mapped, lock released', async () => {
    const { store, calls } = setup({ region: Buffer.from(chunk) });
    await expect(store.chunkClose('L', K64 - 1)).rejects.toMatchObject({ code: 'BAD_LENGTH' });
    expect(calls).toEqual(['leases.claim', 'leases.unlock']);
  });

  test('past expiresAt: LEASE_EXPIRED and the lock is released', async () => {
    const { store, calls } = setup({ region: Buffer.from(chunk), now: 1_001 });
    await expect(store.chunkClose('L', K64)).rejects.toMatchObject({ code: 'LEASE_EXPIRED' });
    expect(calls).toEqual(['leases.claim', 'leases.unlock']);
  });

  test('the file stays partial: no event (a stored chunk is not published, only a completed file)', async () => {
    const { store, calls } = setup({ region: Buffer.from(chunk) });
    await expect(store.chunkClose('L')).resolves.toMatchObject({ fileComplete: false });
    expect(calls.filter((c) => c.startsWith('events.'))).toEqual([]);
  });

  test('an index that lost the file triggers a rebuild; the close still succeeds', async () => {
    const { store, deps } = setup({ region: Buffer.from(chunk) });
    (deps.index.setBitAndUnlock as jest.Mock).mockResolvedValue(false);
    (deps.rebuilder.rebuild as jest.Mock).mockResolvedValue({ files: 1, skipped: 0, removed: 0 });
    await expect(store.chunkClose('L')).resolves.toMatchObject({ available: true });
    expect(deps.rebuilder.rebuild).toHaveBeenCalled();
  });

  test('closes that arrive together share one data sync and one bitmap write (group commit)', async () => {
    const { store, deps, calls } = setup({ region: Buffer.from(chunk) });
    const leases = ['A', 'B', 'C'].map((leaseId, i) => ({ leaseId, fileId, index: i % 2, mode: 'write', path: '/d', offset: 0, length: K64, expiresAt: 1_000 }));
    (deps.leases.claim as jest.Mock).mockImplementation(async (id: string) => ({ state: 'open', lease: leases.find((l) => l.leaseId === id), ownsLock: true }));
    let release!: () => void;
    // The first flush blocks until all three closes have queued, so B and C must share the second.
    (deps.disk.syncData as jest.Mock).mockImplementationOnce(() => new Promise<void>((r) => (release = () => (calls.push('disk.syncData'), r()))));
    const closes = ['A', 'B', 'C'].map((id) => store.chunkClose(id, K64));
    await new Promise((r) => setTimeout(r, 20));
    release();
    await Promise.all(closes);
    expect(calls.filter((c) => c === 'disk.syncData')).toHaveLength(2);
    // Hashing runs in parallel, so the order of bits within one batch is not fixed; the batches are.
    expect((deps.disk.setBits as jest.Mock).mock.calls.map((c) => [...(c[1] as number[])].sort())).toEqual([[0], [0, 1]]);
  });
});
