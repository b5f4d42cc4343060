import { CandidateSchema, DownloadAckRecordSchema, FileRecordSchema, PeerRecordSchema, ReservationSchema, TrackerSubjects as S } from '@swarmshare/common';
import type { NatsConnection } from 'nats';
import { z } from 'zod';
import type { RunningService } from '../../../test/support/services';
import { announceBody, ensureBuilt, failure, fileBody, nodeId, ok, rawNats, rawRedis, sleep, startTracker } from './support';

/** The tracker's replication subjects (issue 3): candidates, reservations, replica holders, download acks. */
const DB = 7;
const Candidates = z.array(CandidateSchema);
const Reservations = z.array(ReservationSchema);

let trackers: RunningService[] = [];
let nc: NatsConnection;

beforeAll(async () => {
  ensureBuilt();
  const redis = rawRedis(DB);
  await redis.flushdb();
  await redis.quit();
  // Two replicas in the queue group: racing reservations land on both.
  trackers = await Promise.all([startTracker(DB), startTracker(DB)]);
  nc = await rawNats();
});

afterAll(async () => {
  await nc?.close();
  await Promise.all(trackers.map((t) => t.stop()));
});

const announce = (body: unknown) => ok(nc, S.announce, body, PeerRecordSchema);
const register = (body: unknown) => ok(nc, S.registerFile, body, FileRecordSchema);
const getFile = (fileId: string) => ok(nc, S.getFile, { fileId }, FileRecordSchema);
const reserve = (uploadId: string, node: string, bytes: number) => ok(nc, S.reserve, { uploadId, nodeId: node, bytes }, ReservationSchema);
const uid = () => `up-${Math.random().toString(36).slice(2, 12)}`;
const ids = (refs: Array<{ nodeId: string }>) => refs.map((r) => r.nodeId).sort();

describe('candidates and reservations', () => {
  it('lists live peers with room, most available first, minus reservations; excludes on request', async () => {
    const [big, mid, full] = [nodeId('big'), nodeId('mid'), nodeId('full')];
    await announce(announceBody(big, 9_000));
    await announce(announceBody(mid, 5_000));
    await announce(announceBody(full, 0));
    const up = uid();
    await reserve(up, big, 6_000);
    const c = (await ok(nc, S.peerCandidates, {}, Candidates)).filter((x) => [big, mid, full].includes(x.nodeId));
    expect(c.map((x) => [x.nodeId, x.free, x.reserved, x.available])).toEqual([
      [mid, 5_000, 0, 5_000],
      [big, 9_000, 6_000, 3_000],
    ]);
    const excl = await ok(nc, S.peerCandidates, { exclude: [mid] }, Candidates);
    expect(excl.some((x) => x.nodeId === mid)).toBe(false);
    expect((await ok(nc, S.listReservations, {}, Reservations)).filter((r) => r.uploadId === up)).toEqual([expect.objectContaining({ nodeId: big, bytes: 6_000 })]);
    expect(await ok(nc, S.release, { uploadId: up }, z.object({ uploadId: z.string(), released: z.number() }))).toEqual({ uploadId: up, released: 1 });
    expect((await ok(nc, S.listReservations, {}, Reservations)).filter((r) => r.uploadId === up)).toEqual([]);
    // Release is idempotent.
    expect((await ok(nc, S.release, { uploadId: up }, z.object({ released: z.number() }))).released).toBe(0);
  });

  it('never overcommits a peer: of 20 uploads racing for room for 5, exactly 5 get it', async () => {
    const small = nodeId('small');
    await announce(announceBody(small, 5_000));
    const ups = Array.from({ length: 20 }, uid);
    const replies = await Promise.all(ups.map((u) => nc.request(S.reserve, Buffer.from(JSON.stringify({ uploadId: u, nodeId: small, bytes: 1_000 })), { timeout: 5000 })));
    const parsed = replies.map((m) => JSON.parse(Buffer.from(m.data).toString()) as { ok: boolean; error?: { code: string; message: string } });
    expect(parsed.filter((r) => r.ok).length).toBe(5);
    for (const r of parsed.filter((x) => !x.ok)) expect(r.error).toMatchObject({ code: 'NO_SPACE', message: expect.stringMatching(/cannot reserve 1000 B .*only 0 B available/) });
    const mine = (await ok(nc, S.listReservations, {}, Reservations)).filter((r) => r.nodeId === small);
    expect(mine.reduce((n, r) => n + r.bytes, 0)).toBe(5_000);
    // Growing one's own reservation counts only the others; shrinking always fits.
    const winner = mine[0].uploadId;
    expect((await failure(nc, S.reserve, { uploadId: winner, nodeId: small, bytes: 1_001 })).code).toBe('NO_SPACE');
    await reserve(winner, small, 10);
    await reserve(uid(), small, 990);
    for (const u of ups) await ok(nc, S.release, { uploadId: u }, z.unknown());
  });

  it('refuses a reservation on a node that is not a live peer, and malformed bodies', async () => {
    expect(await failure(nc, S.reserve, { uploadId: uid(), nodeId: nodeId('ghost'), bytes: 1 })).toMatchObject({ code: 'UNAVAILABLE', message: expect.stringMatching(/not a live peer/) });
    expect(await failure(nc, S.reserve, { uploadId: 'UP', nodeId: 'a', bytes: 1 })).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/upload id must be/) });
    expect(await failure(nc, S.reserve, { uploadId: uid(), nodeId: 'a', bytes: -1 })).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/bytes/) });
    expect((await failure(nc, S.release, {})).code).toBe('BAD_REQUEST');
    expect((await failure(nc, S.peerCandidates, { exclude: 'a' })).code).toBe('BAD_REQUEST');
    expect((await failure(nc, S.listReservations, { x: 1 })).code).toBe('BAD_REQUEST');
  });

});

describe('replica holders and download acks', () => {
  it('registers the holders as partial holders with the copy count; partial announces keep them so, a complete one makes a seeder', async () => {
    const [a, b, c, d] = ['ra', 'rb', 'rc', 'rd'].map(nodeId);
    for (const n of [a, b, c, d]) await announce(announceBody(n, 1_000_000));
    const f = await register({ ...fileBody(a, 'rep.bin'), holders: [b, c, a], replicas: 2 });
    expect(f.replicas).toBe(2);
    // Only a holds the whole file; b and c serve their shares, listed apart (issue 13).
    expect(ids(f.seeders)).toEqual([a]);
    expect(ids(f.partial ?? [])).toEqual([b, c].sort());
    await announce(announceBody(b, 1_000_000, [], [f.fileId]));
    // d downloads: a leecher while it runs, then (holder acks) a seeder, counted once.
    await announce(announceBody(d, 1_000_000, [], [f.fileId]));
    const during = await getFile(f.fileId);
    expect(ids(during.seeders)).toEqual([a]);
    expect(ids(during.partial ?? [])).toEqual([b, c].sort());
    expect(ids(during.leechers)).toEqual([d]);
    for (const holder of [b, c, b]) await ok(nc, S.downloadAcked, { fileId: f.fileId, nodeId: d, holder, bytes: 100_000, chunks: 2 }, FileRecordSchema);
    const after = await getFile(f.fileId);
    expect(ids(after.seeders)).toEqual([a, d].sort());
    expect(ids(after.partial ?? [])).toEqual([b, c].sort());
    // c announces the whole file (it fetched the rest): a seeder, no longer partial.
    await announce(announceBody(c, 1_000_000, [f.fileId], []));
    const full = await getFile(f.fileId);
    expect(ids(full.seeders)).toEqual([a, c, d].sort());
    expect(ids(full.partial ?? [])).toEqual([b]);
    expect(after.leechers).toEqual([]);
    expect(after.downloads).toBe(1);
    const acks = await ok(nc, S.downloadAcks, { fileId: f.fileId }, z.array(DownloadAckRecordSchema));
    expect(acks.sort((x, y) => x.holder.localeCompare(y.holder))).toEqual(
      [
        { nodeId: d, holder: b, bytes: 100_000 },
        { nodeId: d, holder: c, bytes: 100_000 },
      ].sort((x, y) => x.holder.localeCompare(y.holder)),
    );
    // A plain registration has no replica count.
    expect((await register(fileBody(a, 'plain.bin'))).replicas).toBeUndefined();
  });

  it('refuses bad acks and registrations clearly', async () => {
    const a = nodeId('bad');
    expect((await failure(nc, S.downloadAcked, { fileId: 'f'.repeat(64), nodeId: a, holder: a, bytes: 1, chunks: 1 })).code).toBe('NOT_FOUND');
    expect(await failure(nc, S.downloadAcked, { fileId: 'f'.repeat(64), nodeId: a, bytes: 1, chunks: 1 })).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/holder/) });
    expect(await failure(nc, S.registerFile, { ...fileBody(a, 'x.bin'), replicas: 0 })).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/replicas/) });
    expect(await failure(nc, S.registerFile, { ...fileBody(a, 'x.bin'), holders: ['Bad!'] })).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/holders/) });
  });
});

describe('reservation expiry', () => {
  it('lets a reservation expire (RESERVATION_TTL_MS) so a crashed seeder leaves nothing behind', async () => {
    // One tracker with a short TTL (the others stop, so every request reaches it).
    await Promise.all(trackers.map((t) => t.stop()));
    trackers = [await startTracker(DB, { RESERVATION_TTL_MS: '1000' })];
    const n = nodeId('ttl');
    await announce(announceBody(n, 2_000));
    const r = await reserve(uid(), n, 2_000);
    expect(r.expiresAt - Date.now()).toBeLessThanOrEqual(1_500);
    expect((await failure(nc, S.reserve, { uploadId: uid(), nodeId: n, bytes: 1 })).code).toBe('NO_SPACE');
    await sleep(1_200);
    expect((await ok(nc, S.listReservations, {}, Reservations)).filter((x) => x.nodeId === n)).toEqual([]);
    expect((await ok(nc, S.peerCandidates, {}, Candidates)).find((x) => x.nodeId === n)?.available).toBe(2_000);
    await reserve(uid(), n, 2_000);
  });
});
