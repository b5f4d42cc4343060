import { FileRecordSchema, PeerRecordSchema, TrackerSubjects as S } from '@swarmshare/common';
import type Redis from 'ioredis';
import type { NatsConnection } from 'nats';
import { z } from 'zod';
import { freePort, type LocalServer, startRedisServer } from '../../../test/support/infra';
import { type RunningService, startService } from '../../../test/support/services';
import { announceBody, ensureBuilt, failure, fileBody, nodeId, ok, rawNats, rawRedis, request, startTracker } from './support';

/** Replicas, restarts and lost Redis data: what a client sees must not depend on which tracker answers. */
const DB = 3;
const Files = z.array(FileRecordSchema);
const Peers = z.array(PeerRecordSchema);

let nc: NatsConnection;
let redis: Redis;
const running: RunningService[] = [];

async function tracker(extra: Record<string, string> = {}): Promise<RunningService> {
  const t = await startTracker(DB, extra);
  running.push(t);
  return t;
}

beforeAll(async () => {
  ensureBuilt();
  redis = rawRedis(DB);
  await redis.flushdb();
  nc = await rawNats();
});

afterAll(async () => {
  await Promise.all(running.map((t) => t.stop()));
  await nc?.close();
  redis?.disconnect();
});

const served = (t: RunningService) => t.logs.filter((l) => l.event === 'download.completed').length;

/** Everything a client can observe about this test's peers and file. */
async function snapshot(fileId: string, peers: string[]) {
  return {
    file: await ok(nc, S.getFile, { fileId }, FileRecordSchema),
    files: (await ok(nc, S.listFiles, {}, Files)).filter((f) => f.fileId === fileId),
    peers: (await ok(nc, S.listPeers, {}, Peers)).filter((p) => peers.includes(p.nodeId)),
  };
}

describe('replicas, restart and lost Redis data', () => {
  const p1 = nodeId('p1');
  const p2 = nodeId('p2');
  const downloaders = Array.from({ length: 20 }, (_, i) => nodeId(`dl${i}`));
  let fileId: string;
  let a: RunningService;
  let b: RunningService;

  it('two replicas share the work and the state; duplicates across replicas count once', async () => {
    [a, b] = await Promise.all([tracker(), tracker()]);
    await ok(nc, S.announce, announceBody(p1, 2000), PeerRecordSchema);
    await ok(nc, S.announce, announceBody(p2, 1000), PeerRecordSchema);
    for (const d of downloaders) await ok(nc, S.announce, announceBody(d, 10), PeerRecordSchema);
    const file = await ok(nc, S.registerFile, fileBody(p1, 'shared.bin'), FileRecordSchema);
    fileId = file.fileId;

    // 40 duplicate completions of one (file, node) plus one each from 19 other nodes, all at once:
    // the queue group spreads them over both replicas, and the count is still exact.
    const completions = [
      ...Array.from({ length: 40 }, () => ({ fileId, nodeId: downloaders[0] })),
      ...downloaders.slice(1).map((d) => ({ fileId, nodeId: d })),
    ];
    await Promise.all(completions.map((c) => ok(nc, S.downloadCompleted, c, FileRecordSchema)));
    expect(served(a)).toBeGreaterThan(0);
    expect(served(b)).toBeGreaterThan(0);
    expect(served(a) + served(b)).toBe(completions.length);

    const views = await Promise.all(Array.from({ length: 10 }, () => snapshot(fileId, [p1, p2])));
    for (const v of views) expect(v).toEqual(views[0]);
    expect(views[0].file.downloads).toBe(20);
    expect(views[0].file.seeders.map((s) => s.nodeId)).toEqual([p1, ...downloaders].sort());
    expect(views[0].peers.map((p) => p.nodeId)).toEqual([p1, p2]);
  });

  it('with one replica stopped, the other answers every subject with the same state', async () => {
    const before = await snapshot(fileId, [p1, p2]);
    await a.stop('SIGTERM');
    for (let i = 0; i < 5; i++) expect(await snapshot(fileId, [p1, p2])).toEqual(before);
    const again = await ok(nc, S.downloadCompleted, { fileId, nodeId: downloaders[3] }, FileRecordSchema);
    expect(again.downloads).toBe(20);
    await ok(nc, S.announce, announceBody(p2, 1000), PeerRecordSchema);
  });

  it('a restarted tracker (SIGTERM, start again) shows clients exactly what they saw before', async () => {
    const before = await snapshot(fileId, [p1, p2]);
    await b.stop('SIGTERM');
    // Nothing serves the subjects now: the raw client is told so at once.
    await expect(request(nc, S.listPeers, {}, 2000)).rejects.toThrow(/503|no responders/i);
    await tracker();
    expect(await snapshot(fileId, [p1, p2])).toEqual(before);
  });

  it('after Redis loses its data, re-announcing peers restore the peer list; files need registering again', async () => {
    const before = await snapshot(fileId, [p1, p2]);
    await redis.flushdb();
    expect(await ok(nc, S.listPeers, {}, Peers)).toEqual([]);
    expect((await failure(nc, S.getFile, { fileId })).code).toBe('NOT_FOUND');

    // Soft-state contract: the periodic announce rebuilds peers (and swarm membership of files the
    // tracker knows); file records are not in any announce, so they come back only by registering.
    await ok(nc, S.announce, announceBody(p1, 2000, [fileId]), PeerRecordSchema);
    await ok(nc, S.announce, announceBody(p2, 1000, [fileId]), PeerRecordSchema);
    const peers = (await ok(nc, S.listPeers, {}, Peers)).filter((p) => [p1, p2].includes(p.nodeId));
    expect(peers.map(({ lastSeen: _, ...p }) => p)).toEqual(before.peers.map(({ lastSeen: _, ...p }) => ({ ...p, files: 1 })));
    expect((await failure(nc, S.getFile, { fileId })).code).toBe('NOT_FOUND');

    const again = await ok(nc, S.registerFile, { ...fileBody(p1, 'shared.bin'), fileId, hash: before.file.hash }, FileRecordSchema);
    expect(again.seeders.map((s) => s.nodeId)).toEqual([p1]);
    // p2's next periodic announce makes it a seeder again.
    await ok(nc, S.announce, announceBody(p2, 1000, [fileId]), PeerRecordSchema);
    const rec = await ok(nc, S.getFile, { fileId }, FileRecordSchema);
    expect(rec.seeders.map((s) => s.nodeId)).toEqual([p1, p2].sort());
    expect(rec).toMatchObject({ name: before.file.name, size: before.file.size, hash: before.file.hash, chunkCount: before.file.chunkCount });
    // The download count was in the lost data and is not in any announce: it starts again from 0.
    expect(rec.downloads).toBe(0);
  });
});

describe('readiness', () => {
  let lateRedis: LocalServer | undefined;
  afterAll(async () => {
    await Promise.all(running.map((t) => t.stop()));
    await lateRedis?.stop();
  });

  it('logs ready, and takes requests, only once Redis answers', async () => {
    await Promise.all(running.map((t) => t.stop()));
    const port = await freePort();
    const t = await startService('tracker', { NATS_URL: process.env.NATS_URL!, REDIS_URL: `redis://127.0.0.1:${port}` }, { waitReady: false });
    running.push(t);
    await t.waitForLog((l) => l.msg === 'waiting for redis' || l.msg === 'redis unavailable, retrying');
    await new Promise((r) => setTimeout(r, 1000));
    expect(t.logs.some((l) => l.event === 'ready')).toBe(false);
    // It has not joined the queue group yet, so it cannot swallow requests it could not serve.
    await expect(request(nc, S.listPeers, {}, 2000)).rejects.toThrow(/503|no responders/i);

    lateRedis = await startRedisServer(port);
    await t.waitForLog((l) => l.event === 'ready');
    expect(await ok(nc, S.listPeers, {}, Peers)).toEqual([]);
  });
});
