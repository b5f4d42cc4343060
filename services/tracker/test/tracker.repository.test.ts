import type Redis from 'ioredis';
import { TrackerRepository, UNKNOWN_FILE } from '../src/tracker.repository';
import { hex64, nodeId, rawRedis } from './support';

/** The repository against a real Redis: atomic scripts, and the hash-tagged key layout. */
const DB = 4;
let redis: Redis;
let repo: TrackerRepository;

beforeAll(async () => {
  redis = rawRedis(DB);
  repo = new TrackerRepository(redis);
});

// This file owns its Redis database, so each test starts from an empty one.
beforeEach(() => redis.flushdb());

afterAll(async () => {
  await repo.onApplicationShutdown();
});

const meta = (fileId: string, name = 'f.bin', registeredAt = 1000) => ({ fileId, name, size: 10, chunkSize: 65536, chunkCount: 1, hash: 'ab'.repeat(32), registeredAt });
const peer = (id: string, lastSeen: number) => ({ nodeId: id, address: '127.0.0.1:9000', capacity: 10, free: 5, lastSeen, files: 0 });

it('creates a file record once; later creates return the stored record', async () => {
  const id = hex64();
  expect(await repo.createFile(meta(id, 'first.bin', 1000))).toEqual(meta(id, 'first.bin', 1000));
  expect(await repo.createFile(meta(id, 'second.bin', 2000))).toEqual(meta(id, 'first.bin', 1000));
  expect(await repo.readFile(id)).toEqual({ meta: meta(id, 'first.bin', 1000), seeders: [], partial: [], leechers: [], downloads: 0 });
  expect(await repo.readFile(hex64())).toBeNull();
});

it('applies swarm transitions atomically and never creates sets for an unknown file', async () => {
  const unknown = hex64();
  expect(await repo.updateSwarm(unknown, 'seed', 'n1', 1)).toBe(UNKNOWN_FILE);
  expect(await repo.updateSwarm(unknown, 'complete', 'n1', 1)).toBe(UNKNOWN_FILE);
  expect(await redis.keys(`{file:${unknown}}*`)).toEqual([]);

  const id = hex64();
  await repo.createFile(meta(id));
  await repo.updateSwarm(id, 'leech', 'n1', 100);
  await repo.updateSwarm(id, 'leech', 'n1', 200); // a repeated start keeps the first time
  await repo.updateSwarm(id, 'leech', 'n2', 150);
  expect((await repo.readFile(id))!.leechers).toEqual([
    { nodeId: 'n1', since: 100 },
    { nodeId: 'n2', since: 150 },
  ]);
  expect(await repo.updateSwarm(id, 'complete', 'n1', 300)).toBe(1);
  expect(await repo.updateSwarm(id, 'complete', 'n1', 301)).toBe(0);
  await repo.updateSwarm(id, 'seed', 'n3', 302); // a seeder without a counted download
  let f = (await repo.readFile(id))!;
  expect(f.seeders.sort()).toEqual(['n1', 'n3']);
  expect(f.leechers).toEqual([{ nodeId: 'n2', since: 150 }]);
  expect(f.downloads).toBe(1);

  // A seeder that starts downloading again is a leecher, not a seeder; the count stays.
  await repo.updateSwarm(id, 'leech', 'n3', 400);
  await repo.dropFromSwarm(id, ['n2']);
  f = (await repo.readFile(id))!;
  expect(f.seeders).toEqual(['n1']);
  expect(f.leechers).toEqual([{ nodeId: 'n3', since: 400 }]);
  expect(f.downloads).toBe(1);
});

it('records an announce and returns the holdings of the previous one', async () => {
  const n = nodeId('h');
  expect(await repo.recordAnnounce(peer(n, 10), new Map([['a', 'c']]))).toEqual(new Map());
  expect(await repo.recordAnnounce(peer(n, 20), new Map([['b', 'p']]))).toEqual(new Map([['a', 'c']]));
  expect(await repo.recordAnnounce(peer(n, 30), new Map())).toEqual(new Map([['b', 'p']]));
  expect(await repo.recordAnnounce(peer(n, 40), new Map())).toEqual(new Map());
  expect((await repo.getPeers([n, 'missing'])).get(n)).toEqual(peer(n, 40));
});

it('prunes a peer only while it is still expired', async () => {
  const old = nodeId('old');
  const back = nodeId('back');
  await repo.recordAnnounce(peer(old, 1000), new Map([['x', 'c']]));
  await repo.recordAnnounce(peer(back, 1000), new Map());
  expect((await repo.expiredPeerIds(1500, 100)).sort()).toEqual([back, old].sort());
  // `back` re-announces between the scan and the prune: it must survive.
  await repo.recordAnnounce(peer(back, 2000), new Map());
  expect(await repo.prunePeer(old, 1500)).toBe(true);
  expect(await repo.prunePeer(back, 1500)).toBe(false);
  expect([...(await repo.getPeers([old, back])).keys()]).toEqual([back]);
  expect(await redis.exists(`{peers}:held:${old}`)).toBe(0);
  expect((await repo.peersSeenSince(1500)).map((p) => p.nodeId)).toContain(back);
});

it('keeps every key under a hash tag: {peers}, {files} or {file:<id>}', async () => {
  const id = hex64();
  await repo.createFile(meta(id, 'tagged.bin'));
  await repo.indexFile(id, 'tagged.bin', 1000);
  await repo.updateSwarm(id, 'complete', 'n1', 1);
  await repo.updateSwarm(id, 'leech', 'n2', 1);
  await repo.recordAnnounce(peer('n1', 1), new Map([[id, 'c']]));
  const keys = await redis.keys('*');
  expect(keys.length).toBeGreaterThan(0);
  for (const k of keys) expect(k).toMatch(/^\{(peers|files|file:[0-9a-f]{64})\}:/);
  expect(keys.filter((k) => k.startsWith(`{file:${id}}`)).sort()).toEqual(
    ['completions', 'leechers', 'meta', 'seeders'].map((s) => `{file:${id}}:${s}`),
  );
  expect(await repo.fileIdsByName('tagged.bin')).toEqual([id]);
  expect(await repo.fileIds()).toContain(id);
});
