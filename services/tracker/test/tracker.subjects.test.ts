import { EventSubjects, FileRecordSchema, PeerRecordSchema, TrackerSubjects as S } from '@swarmshare/common';
import type { NatsConnection } from 'nats';
import { z } from 'zod';
import type { RunningService } from '../../../test/support/services';
import { addressOf, announceBody, ensureBuilt, eventually, failure, fileBody, hex64, nodeId, ok, rawNats, request, requestBytes, startTracker } from './support';

/** Every tracker subject, called with the raw `nats` client against the built service. */
const DB = 1;
const Files = z.array(FileRecordSchema);
const Peers = z.array(PeerRecordSchema);

let tracker: RunningService;
let nc: NatsConnection;

beforeAll(async () => {
  ensureBuilt();
  tracker = await startTracker(DB);
  nc = await rawNats();
});

afterAll(async () => {
  await nc?.close();
  await tracker?.stop();
});

const announce = (body: unknown) => ok(nc, S.announce, body, PeerRecordSchema);
const register = (body: unknown) => ok(nc, S.registerFile, body, FileRecordSchema);
const getFile = (fileId: string) => ok(nc, S.getFile, { fileId }, FileRecordSchema);
const ids = (refs: Array<{ nodeId: string }>) => refs.map((r) => r.nodeId);

describe('announce', () => {
  it('upserts the peer and returns its record', async () => {
    const n = nodeId('ann');
    const before = Date.now();
    const rec = await announce(announceBody(n, 500, [hex64()], [hex64()]));
    expect(rec).toMatchObject({ nodeId: n, address: addressOf(n), capacity: 1_000_000, free: 500, files: 2 });
    expect(rec.lastSeen).toBeGreaterThanOrEqual(before - 1000);
    expect(rec.lastSeen).toBeLessThanOrEqual(Date.now() + 1000);

    const again = await announce({ ...announceBody(n, 300), address: '10.0.0.9:7000' });
    expect(again).toMatchObject({ free: 300, address: '10.0.0.9:7000', files: 0 });
    const mine = (await ok(nc, S.listPeers, {}, Peers)).filter((p) => p.nodeId === n);
    expect(mine).toEqual([again]);
  });

  it('makes the node a seeder of registered files it holds in full and a leecher of those it is downloading; unknown ids are ignored', async () => {
    const owner = nodeId('own');
    const n = nodeId('rec');
    await announce(announceBody(owner, 100));
    const full = await register(fileBody(owner, 'full.bin'));
    const part = await register(fileBody(owner, 'part.bin'));
    const unknown = hex64();

    await announce(announceBody(n, 100, [full.fileId, unknown], [part.fileId]));
    expect(ids((await getFile(full.fileId)).seeders)).toEqual([owner, n].sort());
    expect((await getFile(part.fileId)).leechers).toEqual([{ nodeId: n, address: addressOf(n) }]);
    expect((await failure(nc, S.getFile, { fileId: unknown })).code).toBe('NOT_FOUND');

    // The partial file finishes: leecher -> seeder.
    await announce(announceBody(n, 100, [full.fileId, part.fileId]));
    const p = await getFile(part.fileId);
    expect(ids(p.seeders)).toEqual([owner, n].sort());
    expect(p.leechers).toEqual([]);

    // The node no longer reports the file (deleted): it leaves the swarm; the owner stays.
    await announce(announceBody(n, 100, [part.fileId]));
    expect(ids((await getFile(full.fileId)).seeders)).toEqual([owner]);
    // Re-announcing the same state changes nothing.
    await announce(announceBody(n, 100, [part.fileId]));
    expect(ids((await getFile(part.fileId)).seeders)).toEqual([owner, n].sort());
    // Announcing is not downloading: no download was counted.
    expect((await getFile(part.fileId)).downloads).toBe(0);
  });
});

describe('registerFile / getFile / findFile / listFiles', () => {
  it('registers a file with the registering node as its first seeder', async () => {
    const n = nodeId('reg');
    await announce(announceBody(n, 100));
    const body = fileBody(n, 'movie.mkv', 1_000_000);
    const rec = await register(body);
    expect(rec).toEqual({
      fileId: body.fileId,
      name: 'movie.mkv',
      size: 1_000_000,
      chunkSize: 65536,
      chunkCount: 16,
      hash: body.hash,
      registeredAt: expect.any(Number),
      downloads: 0,
      seeders: [{ nodeId: n, address: addressOf(n) }],
      partial: [],
      leechers: [],
      // The announce above carried no pins (as an older gateway's): the tracker cannot say, so ls asks that node.
      pinnedBy: [],
      pinsUnknown: [n],
    });
    expect(await getFile(body.fileId)).toEqual(rec);
  });

  it('is idempotent for the same id, and a second name finds the same file', async () => {
    const a = nodeId('ida');
    const b = nodeId('idb');
    await announce(announceBody(a, 1));
    await announce(announceBody(b, 2));
    const body = fileBody(a, `same-${hex64().slice(0, 8)}.iso`);
    const first = await register(body);
    const again = await register(body);
    expect(again).toEqual(first);

    const alias = `alias-${hex64().slice(0, 8)}.iso`;
    const third = await register({ ...body, name: alias, nodeId: b });
    expect(third).toMatchObject({ name: body.name, registeredAt: first.registeredAt });
    expect(ids(third.seeders)).toEqual([a, b].sort());
    expect((await ok(nc, S.findFile, { name: alias }, Files)).map((f) => f.fileId)).toEqual([body.fileId]);
    expect((await ok(nc, S.findFile, { name: body.name }, Files)).map((f) => f.fileId)).toEqual([body.fileId]);
    expect((await ok(nc, S.listFiles, {}, Files)).filter((f) => f.fileId === body.fileId)).toHaveLength(1);
  });

  it('rejects a registration that contradicts the stored record or its own chunk count', async () => {
    const n = nodeId('bad');
    const body = fileBody(n, 'c.bin');
    await register(body);
    const clash = await failure(nc, S.registerFile, { ...body, hash: hex64() });
    expect(clash.code).toBe('CONFLICT');
    expect(clash.message).toContain('hash');
    const count = await failure(nc, S.registerFile, { ...fileBody(n, 'd.bin', 200_000), chunkCount: 3 });
    expect(count).toEqual({ code: 'BAD_REQUEST', message: expect.stringContaining('has 4') });
  });

  it('answers NOT_FOUND for an unknown file id', async () => {
    const id = hex64();
    const err = await failure(nc, S.getFile, { fileId: id });
    expect(err.code).toBe('NOT_FOUND');
    expect(err.message).toContain(id);
  });

  it('finds every file with an exact name, and lists all files oldest first', async () => {
    const n = nodeId('find');
    await announce(announceBody(n, 1));
    const name = `report-${hex64().slice(0, 8)}.pdf`;
    const one = await register(fileBody(n, name, 100));
    const two = await register(fileBody(n, name, 300_000));
    const other = await register(fileBody(n, `${name}.bak`));
    const found = await ok(nc, S.findFile, { name }, Files);
    expect(found.map((f) => f.fileId)).toEqual([one.fileId, two.fileId]);
    expect(found[0].seeders).toEqual([{ nodeId: n, address: addressOf(n) }]);
    expect(await ok(nc, S.findFile, { name: `nothing-${hex64()}` }, Files)).toEqual([]);

    const all = (await ok(nc, S.listFiles, {}, Files)).map((f) => f.fileId);
    const mine = all.filter((id) => [one.fileId, two.fileId, other.fileId].includes(id));
    expect(mine).toEqual([one.fileId, two.fileId, other.fileId]);
  });

  it('lists only live peers in a file record: a registering node that never announced is not listed', async () => {
    const ghost = nodeId('ghost');
    const rec = await register(fileBody(ghost, 'g.bin'));
    expect(rec.seeders).toEqual([]);
    // Once it announces holding the file, it is listed with its address.
    await announce(announceBody(ghost, 5, [rec.fileId]));
    expect((await getFile(rec.fileId)).seeders).toEqual([{ nodeId: ghost, address: addressOf(ghost) }]);
  });
});

describe('listPeers', () => {
  it('lists live peers by free space, most first', async () => {
    const tag = hex64().slice(0, 6);
    const frees = { [`lp-${tag}-a`]: 10, [`lp-${tag}-b`]: 5000, [`lp-${tag}-c`]: 300, [`lp-${tag}-d`]: 5000 };
    for (const [n, free] of Object.entries(frees)) await announce(announceBody(n, free));
    const all = await ok(nc, S.listPeers, {}, Peers);
    for (let i = 1; i < all.length; i++) expect(all[i - 1].free).toBeGreaterThanOrEqual(all[i].free);
    expect(all.filter((p) => p.nodeId.includes(tag)).map((p) => p.nodeId)).toEqual([`lp-${tag}-b`, `lp-${tag}-d`, `lp-${tag}-c`, `lp-${tag}-a`]);
  });
});

describe('download bookkeeping', () => {
  it('lists a downloader as leecher, then as seeder, counting each (file, node) once', async () => {
    const seeder = nodeId('sd');
    const d1 = nodeId('d1');
    const d2 = nodeId('d2');
    for (const n of [seeder, d1, d2]) await announce(announceBody(n, 1));
    const file = await register(fileBody(seeder, 'dl.bin'));

    const started = await ok(nc, S.downloadStarted, { fileId: file.fileId, nodeId: d1 }, FileRecordSchema);
    expect(started.leechers).toEqual([{ nodeId: d1, address: addressOf(d1) }]);
    expect(ids(started.seeders)).toEqual([seeder]);
    // A repeated start keeps one entry.
    await ok(nc, S.downloadStarted, { fileId: file.fileId, nodeId: d1 }, FileRecordSchema);
    await ok(nc, S.downloadStarted, { fileId: file.fileId, nodeId: d2 }, FileRecordSchema);
    expect(ids((await getFile(file.fileId)).leechers)).toEqual([d1, d2]);

    const done = await ok(nc, S.downloadCompleted, { fileId: file.fileId, nodeId: d1, from: [{ nodeId: seeder, bytes: 200_000 }] }, FileRecordSchema);
    expect(done.downloads).toBe(1);
    expect(ids(done.seeders)).toEqual([seeder, d1].sort());
    expect(ids(done.leechers)).toEqual([d2]);

    // Retried and duplicated completions (also concurrently) do not double count.
    await Promise.all(Array.from({ length: 10 }, () => ok(nc, S.downloadCompleted, { fileId: file.fileId, nodeId: d1 }, FileRecordSchema)));
    expect((await getFile(file.fileId)).downloads).toBe(1);

    const both = await ok(nc, S.downloadCompleted, { fileId: file.fileId, nodeId: d2, from: [] }, FileRecordSchema);
    expect(both.downloads).toBe(2);
    expect(both.leechers).toEqual([]);
    expect(ids(both.seeders)).toEqual([seeder, d1, d2].sort());
  });

  it('answers NOT_FOUND for downloads of an unknown file', async () => {
    const n = nodeId('nf');
    expect((await failure(nc, S.downloadStarted, { fileId: hex64(), nodeId: n })).code).toBe('NOT_FOUND');
    expect((await failure(nc, S.downloadCompleted, { fileId: hex64(), nodeId: n })).code).toBe('NOT_FOUND');
  });
});

describe('file.completed event', () => {
  it('makes the node a seeder without counting a download, and ignores unknown files', async () => {
    const seeder = nodeId('es');
    const n = nodeId('ev');
    for (const x of [seeder, n]) await announce(announceBody(x, 1));
    const file = await register(fileBody(seeder, 'ev.bin'));
    await ok(nc, S.downloadStarted, { fileId: file.fileId, nodeId: n }, FileRecordSchema);

    nc.publish(EventSubjects.fileCompleted, Buffer.from(JSON.stringify({ nodeId: n, fileId: file.fileId })));
    const rec = await eventually(async () => {
      const r = await getFile(file.fileId);
      expect(ids(r.seeders)).toEqual([seeder, n].sort());
      return r;
    });
    expect(rec.leechers).toEqual([]);
    expect(rec.downloads).toBe(0);

    // Unknown file and malformed events are dropped; the tracker keeps answering.
    const unknown = hex64();
    nc.publish(EventSubjects.fileCompleted, Buffer.from(JSON.stringify({ nodeId: n, fileId: unknown })));
    nc.publish(EventSubjects.fileCompleted, Buffer.from('{oops'));
    await nc.flush();
    expect((await failure(nc, S.getFile, { fileId: unknown })).code).toBe('NOT_FOUND');
    await eventually(async () => expect(tracker.logs.some((l) => l.msg === 'dropped a malformed fact')).toBe(true));
  });
});

describe('bad requests get an error reply, never a timeout', () => {
  const valid: Record<keyof typeof S, unknown> = {
    announce: announceBody('v', 1),
    registerFile: fileBody('v', 'v.bin'),
    getFile: { fileId: hex64() },
    findFile: { name: 'v.bin' },
    listFiles: {},
    listPeers: {},
    downloadStarted: { fileId: hex64(), nodeId: 'v' },
    downloadStopped: { fileId: hex64(), nodeId: 'v' },
    peerUnreachable: { nodeId: 'v', reporter: 'w' },
    downloadCompleted: { fileId: hex64(), nodeId: 'v' },
    peerCandidates: {},
    reserve: { uploadId: 'up-valid-0001', nodeId: 'v', bytes: 1 },
    release: { uploadId: 'up-valid-0001' },
    listReservations: {},
    downloadAcked: { fileId: hex64(), nodeId: 'v', holder: 'w', bytes: 1, chunks: 1 },
    downloadAcks: { fileId: hex64() },
    deleteFile: { fileId: hex64(), everywhere: true },
    preheatStart: { fileId: hex64(), all: true },
    preheatStatus: { jobId: 'ph-0000000000000000' },
    preheatCancel: { jobId: 'ph-0000000000000000' },
  };

  it.each(Object.keys(S) as Array<keyof typeof S>)('%s: malformed JSON -> BAD_REQUEST', async (key) => {
    const reply = await requestBytes(nc, S[key], Buffer.from('{"nodeId": '), 3000);
    expect(reply).toEqual({ ok: false, error: { code: 'BAD_REQUEST', message: expect.stringContaining('not JSON') } });
  });

  it.each(Object.keys(S) as Array<keyof typeof S>)('%s: schema-invalid body -> BAD_REQUEST', async (key) => {
    const body = { ...(valid[key] as object), unexpected: true };
    const reply = await request(nc, S[key], body, 3000);
    expect(reply).toEqual({ ok: false, error: { code: 'BAD_REQUEST', message: expect.stringContaining('invalid') } });
  });

  it('names the offending field', async () => {
    const err = await failure(nc, S.announce, { ...announceBody('x', 1), nodeId: 'Bad Id!', free: -1 });
    expect(err.code).toBe('BAD_REQUEST');
    expect(err.message).toMatch(/nodeId/);
    expect(err.message).toMatch(/free/);
    expect((await failure(nc, S.getFile, { fileId: 'abc' })).message).toContain('fileId');
  });
});
