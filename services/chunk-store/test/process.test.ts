import { closeSync, existsSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import Redis from 'ioredis';
import { connect, type NatsConnection } from 'nats';
import { Bitfield, type Lease, mapRegion, storeSubjects, syncRegion } from '@swarmshare/common';
import { freePort, startRedisServer } from '../../../test/support/infra';
import { type RunningService, startService } from '../../../test/support/services';
import { RedisKeys } from '../src/redis-keys';
import { CHUNK, chunkOf, content, manifestFor, sleep, tmpDataDir, uniqueNodeId } from './support';

const MAIN = join(__dirname, '..', 'dist', 'main.js');

interface Envelope {
  ok: boolean;
  result?: any;
  error?: { code: string; message: string };
}

/**
 * The built service as a process (node dist/main.js, configured by env only), called over NATS with
 * the raw client: plain JSON in, {ok,result|error} out. Build first: npx tsc -p services/chunk-store/tsconfig.build.json
 */
describe('chunk-store process over NATS', () => {
  let nc: NatsConnection;
  let redis: Redis;
  const running: RunningService[] = [];
  const dirs: string[] = [];
  const dataDir = () => {
    const d = tmpDataDir();
    dirs.push(d);
    return d;
  };

  beforeAll(async () => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: build with npx tsc -p services/chunk-store/tsconfig.build.json before running this test`);
    nc = await connect({ servers: process.env.NATS_URL! });
    redis = new Redis(process.env.REDIS_URL!);
  });
  afterAll(async () => {
    await Promise.all(running.map((s) => s.stop('SIGKILL')));
    await nc.drain();
    redis.disconnect();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  async function start(env: Record<string, string>, waitReady = true): Promise<RunningService> {
    const svc = await startService('chunk-store', { NATS_URL: process.env.NATS_URL!, REDIS_URL: process.env.REDIS_URL!, ...env }, { waitReady });
    running.push(svc);
    return svc;
  }

  async function call(subject: string, body: unknown): Promise<Envelope> {
    const raw = typeof body === 'string' ? body : JSON.stringify(body);
    const msg = await nc.request(subject, Buffer.from(raw), { timeout: 5000 });
    return JSON.parse(Buffer.from(msg.data).toString('utf8'));
  }

  /** What the co-located peer-gateway does with a write lease: map the region itself and fill it. */
  function fillThroughOwnMapping(lease: Lease, bytes: Buffer): void {
    const region = mapRegion(lease.path, lease.offset, lease.length, 'write');
    bytes.copy(region);
    syncRegion(region);
  }

  test('create, write through a lease from another process, close, have, read, files, manifest, stats', async () => {
    const nodeId = uniqueNodeId();
    const s = storeSubjects(nodeId);
    const dir = dataDir();
    const svc = await start({ NODE_ID: nodeId, DATA_DIR: dir });
    const ready = svc.logs.find((l) => l.event === 'ready')!;
    expect(ready).toMatchObject({ nodeId, files: 0 });
    // The ready line comes only after the index was rebuilt from disk.
    expect(svc.logs.findIndex((l) => l.event === 'index-rebuilt')).toBeLessThan(svc.logs.indexOf(ready));

    const data = content(2 * CHUNK + 500, 3);
    const m = manifestFor('wire.bin', data);
    const created = await call(s.create, { manifest: m });
    expect(created).toEqual({ ok: true, result: { fileId: m.fileId, name: 'wire.bin', size: data.length, chunkSize: CHUNK, chunkCount: 3, chunksPresent: 0, state: 'partial' } });

    for (const index of [0, 1, 2]) {
      const loc = await call(s.location, { fileId: m.fileId, index, mode: 'write' });
      expect(loc.ok).toBe(true);
      const lease = loc.result as Lease;
      expect(lease).toMatchObject({ fileId: m.fileId, index, mode: 'write', offset: index * CHUNK, length: index === 2 ? 500 : CHUNK });
      expect(lease.path).toBe(join(dir, 'files', m.fileId, 'data'));
      fillThroughOwnMapping(lease, chunkOf(data, index));
      const closed = await call(s.close, { leaseId: lease.leaseId, written: lease.length });
      expect(closed).toEqual({ ok: true, result: { leaseId: lease.leaseId, fileId: m.fileId, index, available: true, fileComplete: index === 2 } });
    }

    const have = await call(s.have, { fileId: m.fileId });
    expect(have.result).toMatchObject({ fileId: m.fileId, chunkCount: 3, present: 3 });
    expect(Bitfield.fromBase64(3, have.result.bitfield).isComplete()).toBe(true);

    const read = (await call(s.location, { fileId: m.fileId, index: 1, mode: 'read' })).result as Lease;
    expect(readFileSync(read.path).subarray(read.offset, read.offset + read.length)).toEqual(chunkOf(data, 1));
    expect((await call(s.close, { leaseId: read.leaseId })).ok).toBe(true);

    // The layout: what the gateway needs to read present chunks without a lease each.
    expect((await call(s.layout, { fileId: m.fileId })).result).toEqual({
      fileId: m.fileId,
      chunkCount: 3,
      present: 3,
      bitfield: have.result.bitfield,
      path: join(dir, 'files', m.fileId, 'data'),
      size: data.length,
      chunkSize: CHUNK,
    });
    expect((await call(s.layout, { fileId: 'cd'.repeat(32) })).error).toMatchObject({ code: 'NOT_FOUND' });
    expect((await call(s.layout, { fileId: '../../etc' })).error).toMatchObject({ code: 'BAD_REQUEST' });

    expect((await call(s.files, {})).result).toEqual([expect.objectContaining({ fileId: m.fileId, state: 'complete', chunksPresent: 3 })]);
    expect(await call(s.manifest, { fileId: m.fileId })).toEqual({ ok: true, result: m });
    expect((await call(s.stats, {})).result).toMatchObject({ nodeId, used: data.length, files: 1 });

    // SIGTERM: a graceful stop (Nest re-raises the signal once its shutdown hooks have run).
    await svc.stop('SIGTERM', 20_000);
    expect(await svc.exited).toEqual({ code: null, signal: 'SIGTERM' });
    // 'exit' can come before the last stdout lines are read.
    if (!svc.proc.stdout!.destroyed) await once(svc.proc.stdout!, 'close');
    expect(svc.logs).toContainEqual(expect.objectContaining({ event: 'stopped' }));
  });

  test('errors come back as JSON envelopes: malformed body, bad fields, bad name, unknown file, range, hash, lease', async () => {
    const nodeId = uniqueNodeId();
    const s = storeSubjects(nodeId);
    await start({ NODE_ID: nodeId, DATA_DIR: dataDir(), STORE_CAPACITY: String(4 * CHUNK) });
    const code = async (subject: string, body: unknown) => {
      const r = await call(subject, body);
      expect(r.ok).toBe(false);
      return r.error!;
    };

    expect(await code(s.location, 'this is {not json')).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('not JSON') });
    expect(await code(s.location, { fileId: 'xyz', index: -1, mode: 'write' })).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('fileId') });
    expect(await code(s.files, { extra: 1 })).toMatchObject({ code: 'BAD_REQUEST' });

    const data = content(2 * CHUNK, 8);
    const good = manifestFor('good.bin', data);
    expect(await code(s.create, { manifest: { ...good, name: '../escape' } })).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('name') });
    expect(await code(s.create, { manifest: { ...good, name: 'a/b' } })).toMatchObject({ code: 'BAD_REQUEST' });
    expect(await code(s.create, { manifest: manifestFor('huge.bin', content(5 * CHUNK)) })).toMatchObject({ code: 'NO_SPACE' });
    expect((await call(s.create, { manifest: good })).ok).toBe(true);

    expect(await code(s.have, { fileId: 'ef'.repeat(32) })).toMatchObject({ code: 'NOT_FOUND' });
    expect(await code(s.location, { fileId: good.fileId, index: 2, mode: 'write' })).toMatchObject({ code: 'OUT_OF_RANGE' });
    expect(await code(s.location, { fileId: good.fileId, index: 0, mode: 'read' })).toMatchObject({ code: 'NOT_FOUND' });

    // Wrong bytes, written with plain file I/O: rejected, chunk stays missing.
    const bad = (await call(s.location, { fileId: good.fileId, index: 0, mode: 'write' })).result as Lease;
    expect(await code(s.location, { fileId: good.fileId, index: 0, mode: 'write' })).toMatchObject({ code: 'LOCKED' });
    const fd = openSync(bad.path, 'r+');
    writeSync(fd, Buffer.alloc(CHUNK, 0x5a), 0, CHUNK, bad.offset);
    closeSync(fd);
    expect(await code(s.close, { leaseId: bad.leaseId })).toMatchObject({ code: 'HASH_MISMATCH' });
    expect(await code(s.close, { leaseId: bad.leaseId })).toMatchObject({ code: 'LEASE_CLOSED' });
    expect((await call(s.have, { fileId: good.fileId })).result.present).toBe(0);

    // A writer's digest: malformed is refused (the lease stays open), wrong is a mismatch.
    const vouched = (await call(s.location, { fileId: good.fileId, index: 0, mode: 'write' })).result as Lease;
    expect(await code(s.close, { leaseId: vouched.leaseId, sha256: 'ABC' })).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('sha256') });
    expect(await code(s.close, { leaseId: vouched.leaseId, written: CHUNK, sha256: good.hashes[1] })).toMatchObject({ code: 'HASH_MISMATCH' });
    expect((await call(s.have, { fileId: good.fileId })).result.present).toBe(0);

    const short = (await call(s.location, { fileId: good.fileId, index: 0, mode: 'write' })).result as Lease;
    expect(await code(s.close, { leaseId: short.leaseId, written: 10 })).toMatchObject({ code: 'BAD_LENGTH' });
    expect(await code(s.close, { leaseId: 'never-issued' })).toMatchObject({ code: 'LEASE_UNKNOWN' });
  });

  test('location.many and close.many: one verdict per request in order, a bad one fails only itself, and a malformed batch is refused whole', async () => {
    const nodeId = uniqueNodeId();
    const s = storeSubjects(nodeId);
    await start({ NODE_ID: nodeId, DATA_DIR: dataDir() });
    const data = content(3 * CHUNK, 11);
    const m = manifestFor('many.bin', data);
    expect((await call(s.create, { manifest: m })).ok).toBe(true);
    const w = (index: number) => ({ fileId: m.fileId, index, mode: 'write' });
    const leased = await call(s.locationMany, { leases: [w(0), w(1), w(1), w(7), { ...w(2), mode: 'read' }, w(2)] });
    expect(leased.ok).toBe(true);
    expect(leased.result.results).toMatchObject([
      { ok: true, result: { index: 0, mode: 'write' } },
      { ok: true, result: { index: 1 } },
      { ok: false, error: { code: 'LOCKED' } }, // the same chunk twice in one batch: one writer only
      { ok: false, error: { code: 'OUT_OF_RANGE' } },
      { ok: false, error: { code: 'NOT_FOUND' } }, // a read lease of a missing chunk
      { ok: true, result: { index: 2 } },
    ]);
    const leases = [0, 1, 5].map((i) => leased.result.results[i].result as Lease);
    fillThroughOwnMapping(leases[0], chunkOf(data, 0));
    fillThroughOwnMapping(leases[1], Buffer.alloc(CHUNK, 0x33)); // wrong bytes
    fillThroughOwnMapping(leases[2], chunkOf(data, 2));
    const reply = await call(s.closeMany, {
      closes: [
        { leaseId: leases[0].leaseId, written: CHUNK },
        { leaseId: leases[1].leaseId, written: CHUNK },
        { leaseId: 'never-issued' },
        { leaseId: leases[2].leaseId, written: CHUNK, sha256: m.hashes[2] },
      ],
    });
    expect(reply.ok).toBe(true);
    expect(reply.result.results).toMatchObject([
      { ok: true, result: { index: 0, available: true } },
      { ok: false, error: { code: 'HASH_MISMATCH' } },
      { ok: false, error: { code: 'LEASE_UNKNOWN' } },
      { ok: true, result: { index: 2, available: true } },
    ]);
    const have = (await call(s.have, { fileId: m.fileId })).result;
    expect(Bitfield.fromBase64(3, have.bitfield).indexes()).toEqual([0, 2]);
    // The wrong chunk's lock was released: the next writer gets it.
    expect((await call(s.location, { fileId: m.fileId, index: 1, mode: 'write' })).ok).toBe(true);

    for (const bad of [{ closes: [] }, { closes: Array.from({ length: 257 }, (_, i) => ({ leaseId: `l${i}` })) }, { closes: [{ leaseId: 'x', sha256: 'nope' }] }, { leases: [] }]) {
      expect(await call(s.closeMany, bad)).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    }
    for (const bad of [{ leases: [] }, { leases: Array.from({ length: 257 }, () => w(0)) }, { leases: [{ ...w(0), index: -1 }] }, { closes: [] }]) {
      expect(await call(s.locationMany, bad)).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    }
  });

  test('LEASE_TTL_MS=1000: a lease closed later is expired, and its lock was freed for the next writer', async () => {
    const nodeId = uniqueNodeId();
    const s = storeSubjects(nodeId);
    await start({ NODE_ID: nodeId, DATA_DIR: dataDir(), LEASE_TTL_MS: '1000' });
    const data = content(2 * CHUNK, 8);
    const m = manifestFor('ttl.bin', data);
    expect((await call(s.create, { manifest: m })).ok).toBe(true);
    const late = (await call(s.location, { fileId: m.fileId, index: 1, mode: 'write' })).result as Lease;
    expect(late.expiresAt - Date.now()).toBeLessThanOrEqual(1000);
    fillThroughOwnMapping(late, chunkOf(data, 1));
    await sleep(1300);
    expect(await call(s.close, { leaseId: late.leaseId, written: CHUNK })).toMatchObject({ ok: false, error: { code: 'LEASE_EXPIRED' } });
    const retry = (await call(s.location, { fileId: m.fileId, index: 1, mode: 'write' })).result as Lease;
    expect((await call(s.close, { leaseId: retry.leaseId, written: CHUNK })).result).toMatchObject({ available: true });
  });

  test('a restart over the same data dir with a FLUSHALLed Redis serves the same files and bitfields', async () => {
    const nodeId = uniqueNodeId();
    const s = storeSubjects(nodeId);
    const dir = dataDir();
    const first = await start({ NODE_ID: nodeId, DATA_DIR: dir });
    const data = content(3 * CHUNK, 12);
    const m = manifestFor('restart.bin', data);
    const empty = manifestFor('zero.bin', Buffer.alloc(0));
    await call(s.create, { manifest: m });
    await call(s.create, { manifest: empty });
    for (const index of [0, 2]) {
      const lease = (await call(s.location, { fileId: m.fileId, index, mode: 'write' })).result as Lease;
      fillThroughOwnMapping(lease, chunkOf(data, index));
      await call(s.close, { leaseId: lease.leaseId });
    }
    const files = (await call(s.files, {})).result;
    const have = (await call(s.have, { fileId: m.fileId })).result;
    expect(have.present).toBe(2);
    await first.stop('SIGKILL');
    await redis.flushall();

    const second = await start({ NODE_ID: nodeId, DATA_DIR: dir });
    expect(second.logs.find((l) => l.event === 'ready')).toMatchObject({ files: 2 });
    expect((await call(s.files, {})).result).toEqual(files);
    expect((await call(s.have, { fileId: m.fileId })).result).toEqual(have);
  });

  test('no ready line while Redis is unreachable; ready once it comes up', async () => {
    const port = await freePort();
    const nodeId = uniqueNodeId();
    const svc = await start({ NODE_ID: nodeId, DATA_DIR: dataDir(), REDIS_URL: `redis://127.0.0.1:${port}` }, false);
    await sleep(1500);
    expect(svc.logs.some((l) => l.event === 'ready')).toBe(false);
    expect(svc.proc.exitCode).toBeNull();
    const late = await startRedisServer(port);
    try {
      await svc.waitForLog((l) => l.event === 'ready', 15_000);
      expect((await call(storeSubjects(nodeId).files, {})).result).toEqual([]);
    } finally {
      await svc.stop('SIGKILL');
      await late.stop();
    }
  });

  test('a Redis restarted without persistence is re-indexed on reconnect', async () => {
    const own = await startRedisServer();
    const nodeId = uniqueNodeId();
    const s = storeSubjects(nodeId);
    const keys = new RedisKeys(nodeId);
    const probe = new Redis(own.url, { retryStrategy: () => 100, maxRetriesPerRequest: 1 });
    probe.on('error', () => undefined);
    try {
      await start({ NODE_ID: nodeId, DATA_DIR: dataDir(), REDIS_URL: own.url });
      const m = manifestFor('r.bin', content(CHUNK, 1));
      await call(s.create, { manifest: m });
      await own.stop();
      const back = await startRedisServer(own.port);
      own.stop = back.stop;
      // No request reaches the store: the reconnect itself must bring the index back.
      const deadline = Date.now() + 15_000;
      let members: string[] = [];
      while (Date.now() < deadline) {
        members = await probe.smembers(keys.files()).catch(() => []);
        if (members.length > 0 && ((await probe.get(keys.indexed())) ?? '').startsWith('indexed ')) break;
        await sleep(100);
      }
      expect(members).toEqual([m.fileId]);
    } finally {
      probe.disconnect();
      await own.stop();
    }
  });
});
