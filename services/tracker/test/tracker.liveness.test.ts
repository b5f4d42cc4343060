import { FileRecordSchema, PeerRecordSchema, TrackerSubjects as S } from '@swarmshare/common';
import type Redis from 'ioredis';
import type { NatsConnection } from 'nats';
import { z } from 'zod';
import type { RunningService } from '../../../test/support/services';
import { addressOf, announceBody, ensureBuilt, fileBody, nodeId, ok, rawNats, rawRedis, sleep, startTracker } from './support';

/** Peers expire PEER_TTL_MS after their last announce; a short TTL keeps this test quick. */
const DB = 2;
const TTL = 1500;
const Peers = z.array(PeerRecordSchema);

let tracker: RunningService;
let nc: NatsConnection;
let redis: Redis;

beforeAll(async () => {
  ensureBuilt();
  redis = rawRedis(DB);
  await redis.flushdb();
  tracker = await startTracker(DB, { PEER_TTL_MS: String(TTL) });
  nc = await rawNats();
});

afterAll(async () => {
  await nc?.close();
  await tracker?.stop();
  redis?.disconnect();
});

it('stops listing a peer that has not announced within PEER_TTL_MS, everywhere, and prunes it', async () => {
  const gone = nodeId('gone');
  const leech = nodeId('leech');
  const stays = nodeId('stays');
  await ok(nc, S.announce, announceBody(gone, 900), PeerRecordSchema);
  await ok(nc, S.announce, announceBody(leech, 800), PeerRecordSchema);
  const file = await ok(nc, S.registerFile, fileBody(gone, 'ttl.bin'), FileRecordSchema);
  await ok(nc, S.downloadStarted, { fileId: file.fileId, nodeId: leech }, FileRecordSchema);
  expect((await ok(nc, S.listPeers, {}, Peers)).map((p) => p.nodeId)).toEqual([gone, leech]);

  await sleep(TTL + 300);
  await ok(nc, S.announce, announceBody(stays, 10), PeerRecordSchema);

  // Only the fresh peer is listed, though it has the least free space.
  expect((await ok(nc, S.listPeers, {}, Peers)).map((p) => p.nodeId)).toEqual([stays]);
  const rec = await ok(nc, S.getFile, { fileId: file.fileId }, FileRecordSchema);
  expect(rec.seeders).toEqual([]);
  expect(rec.leechers).toEqual([]);

  // Pruned lazily from the registry and from the file's swarm sets.
  expect(await redis.hkeys('{peers}:records')).toEqual([stays]);
  expect(await redis.zrange('{peers}:seen', 0, -1)).toEqual([stays]);
  expect(await redis.smembers(`{file:${file.fileId}}:seeders`)).toEqual([]);
  expect(await redis.zrange(`{file:${file.fileId}}:leechers`, 0, -1)).toEqual([]);

  // Coming back and announcing what it holds makes it a listed seeder again.
  await ok(nc, S.announce, announceBody(gone, 900, [file.fileId]), PeerRecordSchema);
  expect((await ok(nc, S.getFile, { fileId: file.fileId }, FileRecordSchema)).seeders).toEqual([{ nodeId: gone, address: addressOf(gone) }]);
  expect((await ok(nc, S.listPeers, {}, Peers)).map((p) => p.nodeId)).toEqual([gone, stays]);
});

it('keeps a peer listed as long as it re-announces', async () => {
  const n = nodeId('beat');
  for (let i = 0; i < 4; i++) {
    await ok(nc, S.announce, announceBody(n, 1), PeerRecordSchema);
    await sleep(TTL / 2);
    expect((await ok(nc, S.listPeers, {}, Peers)).map((p) => p.nodeId)).toContain(n);
  }
});
