import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Bitfield, FileIdSchema, sha256Hex } from '@swarmshare/common';
import { CHUNK, chunkOf, content, failsWith, Harness, manifestFor, readFileRegion, sleep, writeChunk } from './support';

/** The file side against real Redis, real NATS (for events) and real files in a tmp dir. */
describe('ChunkStoreService (real Redis, real files)', () => {
  const h = new Harness();
  beforeAll(() => h.setup());
  afterAll(() => h.teardown());

  test('creates a file: preallocated data, manifest and empty bitmap on disk, listed as partial', async () => {
    const store = await h.store();
    const data = content(3 * CHUNK, 7);
    const m = manifestFor('three.bin', data);
    const def = await store.createFile(m);
    expect(def).toEqual({ fileId: m.fileId, name: 'three.bin', size: data.length, chunkSize: CHUNK, chunkCount: 3, chunksPresent: 0, state: 'partial' });

    const lease = await store.leaseChunk(m.fileId, 0, 'write');
    const dir = join(lease.path, '..');
    expect(statSync(lease.path).size).toBe(data.length);
    expect(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'))).toEqual(m);
    expect(readFileSync(join(dir, 'bitmap'))).toEqual(Buffer.alloc(1));
    expect(await store.files()).toEqual([def]);
    expect(await store.manifest(m.fileId)).toEqual(m);
    expect(await store.have(m.fileId)).toEqual({ fileId: m.fileId, chunkCount: 3, present: 0, bitfield: Buffer.alloc(1).toString('base64') });
    // Creating it again is a no-op returning the same record.
    expect(await store.createFile(m)).toEqual(def);
  });

  test('write a chunk through its lease, close it, then read it back through a read lease', async () => {
    const store = await h.store();
    const data = content(2 * CHUNK, 3);
    const m = manifestFor('rw.bin', data);
    await store.createFile(m);

    const { lease, buffer } = await store.chunkLocation(m.fileId, 1, 'write');
    expect(lease).toMatchObject({ fileId: m.fileId, index: 1, mode: 'write', offset: CHUNK, length: CHUNK });
    expect(buffer.length).toBe(CHUNK);
    chunkOf(data, 1).copy(buffer);
    const reply = await store.chunkClose(lease.leaseId, CHUNK);
    expect(reply).toEqual({ leaseId: lease.leaseId, fileId: m.fileId, index: 1, available: true, fileComplete: false });

    // The bytes are in the data file (MAP_SHARED) and the bit is on disk and in the index.
    expect(readFileRegion(lease.path, CHUNK, CHUNK)).toEqual(chunkOf(data, 1));
    expect(readFileSync(join(lease.path, '..', 'bitmap'))[0]).toBe(0b0100_0000);
    const have = await store.have(m.fileId);
    expect(Bitfield.fromBase64(2, have.bitfield).indexes()).toEqual([1]);

    const read = await store.chunkLocation(m.fileId, 1, 'read');
    expect(Buffer.from(read.buffer)).toEqual(chunkOf(data, 1));
    expect(await store.chunkClose(read.lease.leaseId)).toEqual({ leaseId: read.lease.leaseId, fileId: m.fileId, index: 1, available: true, fileComplete: false });
  });

  test('completing a file publishes file.completed once, and nothing per chunk', async () => {
    const store = await h.store();
    const data = content(2 * CHUNK + 100, 11);
    const m = manifestFor('events.bin', data);
    await store.createFile(m);
    expect((await writeChunk(store, m.fileId, 2, chunkOf(data, 2))).fileComplete).toBe(false);
    expect((await writeChunk(store, m.fileId, 0, chunkOf(data, 0))).fileComplete).toBe(false);
    expect((await writeChunk(store, m.fileId, 1, chunkOf(data, 1))).fileComplete).toBe(true);
    expect(await h.events.completedOf(m.fileId)).toEqual([{ nodeId: store.nodeId, fileId: m.fileId }]);
    expect((await store.files())[0]).toMatchObject({ chunksPresent: 3, state: 'complete' });
    expect(readFileSync((await store.leaseChunk(m.fileId, 0, 'read')).path)).toEqual(data);
  });

  test('a short last chunk has its own length and verifies', async () => {
    const store = await h.store();
    const data = content(CHUNK + 1234, 5);
    const m = manifestFor('short.bin', data);
    await store.createFile(m);
    const { lease, buffer } = await store.chunkLocation(m.fileId, 1, 'write');
    expect(lease).toMatchObject({ offset: CHUNK, length: 1234 });
    expect(buffer.length).toBe(1234);
    chunkOf(data, 1).copy(buffer);
    expect(await store.chunkClose(lease.leaseId, 1234)).toMatchObject({ available: true });
    const read = await store.chunkLocation(m.fileId, 1, 'read');
    expect(sha256Hex(read.buffer)).toBe(m.hashes[1]);
  });

  test('a 0-byte file has no chunks, is complete at once and is never mapped', async () => {
    const store = await h.store();
    const m = manifestFor('empty.txt', Buffer.alloc(0));
    expect(m.hashes).toEqual([]);
    const def = await store.createFile(m);
    expect(def).toMatchObject({ size: 0, chunkCount: 0, chunksPresent: 0, state: 'complete' });
    expect(await store.have(m.fileId)).toEqual({ fileId: m.fileId, chunkCount: 0, present: 0, bitfield: '' });
    await failsWith(store.chunkLocation(m.fileId, 0, 'read'), 'OUT_OF_RANGE');
    expect(await h.events.completedOf(m.fileId)).toEqual([{ nodeId: store.nodeId, fileId: m.fileId }]);
  });

  test('a chunk whose bytes do not match the manifest is rejected and stays missing', async () => {
    const store = await h.store();
    const data = content(2 * CHUNK, 9);
    const m = manifestFor('bad.bin', data);
    await store.createFile(m);
    const { lease, buffer } = await store.chunkLocation(m.fileId, 0, 'write');
    chunkOf(data, 0).copy(buffer);
    buffer[100] ^= 0xff;
    const msg = await failsWith(store.chunkClose(lease.leaseId, CHUNK), 'HASH_MISMATCH');
    expect(msg).toContain('chunk 0');
    expect(msg).toContain(m.hashes[0]);
    expect((await store.have(m.fileId)).present).toBe(0);
    expect(readFileSync(join(lease.path, '..', 'bitmap'))[0]).toBe(0);
    await failsWith(store.chunkLocation(m.fileId, 0, 'read'), 'NOT_FOUND');
    // The lock was released: a correct write now succeeds.
    expect(await writeChunk(store, m.fileId, 0, chunkOf(data, 0))).toMatchObject({ available: true });
  });

  test('unknown file, index out of range, and reading a missing chunk', async () => {
    const store = await h.store();
    const unknown = 'ab'.repeat(32);
    expect(FileIdSchema.parse(unknown)).toBe(unknown);
    await failsWith(store.chunkLocation(unknown, 0, 'read'), 'NOT_FOUND');
    await failsWith(store.have(unknown), 'NOT_FOUND');
    await failsWith(store.manifest(unknown), 'NOT_FOUND');
    const data = content(2 * CHUNK);
    const m = manifestFor('range.bin', data);
    await store.createFile(m);
    expect(await failsWith(store.chunkLocation(m.fileId, 2, 'write'), 'OUT_OF_RANGE')).toContain('2 chunks');
    await failsWith(store.chunkLocation(m.fileId, 1, 'read'), 'NOT_FOUND');
  });

  test('a close with the wrong byte count is BAD_LENGTH: lock released, chunk stays missing', async () => {
    const store = await h.store();
    const data = content(CHUNK, 2);
    const m = manifestFor('len.bin', data);
    await store.createFile(m);
    const { lease, buffer } = await store.chunkLocation(m.fileId, 0, 'write');
    data.copy(buffer); // right bytes, but the writer reports a short write
    await failsWith(store.chunkClose(lease.leaseId, CHUNK - 1), 'BAD_LENGTH');
    expect((await store.have(m.fileId)).present).toBe(0);
    expect(await writeChunk(store, m.fileId, 0, data)).toMatchObject({ fileComplete: true });
  });

  test('abandon gives a write lease up: lock released, nothing verified, chunk missing, no error (issue 13)', async () => {
    const store = await h.store();
    const data = content(CHUNK, 4);
    const m = manifestFor('abandon.bin', data);
    await store.createFile(m);
    const { lease, buffer } = await store.chunkLocation(m.fileId, 0, 'write');
    data.subarray(0, 100).copy(buffer); // a refused or cancelled request streamed a little
    expect(await store.chunkAbandon(lease.leaseId)).toEqual({ leaseId: lease.leaseId, fileId: m.fileId, index: 0, available: false, fileComplete: false });
    expect((await store.have(m.fileId)).present).toBe(0);
    // Given up once: a second abandon or a close of the same lease is refused, and the chunk can be leased again.
    await failsWith(store.chunkAbandon(lease.leaseId), 'LEASE_CLOSED');
    await failsWith(store.chunkClose(lease.leaseId, CHUNK), 'LEASE_CLOSED');
    await failsWith(store.chunkAbandon('nope'), 'LEASE_UNKNOWN');
    expect(await writeChunk(store, m.fileId, 0, data)).toMatchObject({ fileComplete: true });
  });

  test('create rejects names with "/" or "..", and a manifest that does not hash to its id', async () => {
    const store = await h.store();
    const data = content(CHUNK);
    for (const name of ['a/b', '..', '../etc/passwd']) {
      expect(await failsWith(store.createFile(manifestFor(name, data)), 'BAD_REQUEST')).toContain('name');
    }
    const m = manifestFor('ok.bin', data);
    await failsWith(store.createFile({ ...m, size: m.size - 1 }), 'BAD_REQUEST');
    await failsWith(store.createFile({ ...m, hashes: ['00'.repeat(32)] }), 'BAD_REQUEST');
    expect(await store.files()).toEqual([]);
  });

  test('closing a lease twice is LEASE_CLOSED, an unknown lease is LEASE_UNKNOWN', async () => {
    const store = await h.store();
    const data = content(CHUNK, 4);
    const m = manifestFor('twice.bin', data);
    await store.createFile(m);
    const { lease, buffer } = await store.chunkLocation(m.fileId, 0, 'write');
    data.copy(buffer);
    const [a, b] = await Promise.allSettled([store.chunkClose(lease.leaseId), store.chunkClose(lease.leaseId)]);
    // Two racing closes: exactly one commits.
    expect([a.status, b.status].sort()).toEqual(['fulfilled', 'rejected']);
    await failsWith(store.chunkClose(lease.leaseId), 'LEASE_CLOSED');
    await failsWith(store.chunkClose('no-such-lease'), 'LEASE_UNKNOWN');
    const read = await store.leaseChunk(m.fileId, 0, 'read');
    await store.chunkClose(read.leaseId);
    await failsWith(store.chunkClose(read.leaseId), 'LEASE_CLOSED');
  });

  test('two writers on one chunk: the second is LOCKED; a present chunk is CONFLICT', async () => {
    const store = await h.store();
    const data = content(CHUNK, 6);
    const m = manifestFor('lock.bin', data);
    await store.createFile(m);
    const first = await store.chunkLocation(m.fileId, 0, 'write');
    expect(await failsWith(store.chunkLocation(m.fileId, 0, 'write'), 'LOCKED')).toContain('another lease');
    data.copy(first.buffer);
    await store.chunkClose(first.lease.leaseId);
    await failsWith(store.chunkLocation(m.fileId, 0, 'write'), 'CONFLICT');
  });

  test('a lease closed after its expiry is LEASE_EXPIRED, and an expired lock can be taken again', async () => {
    const store = await h.store({ leaseTtlMs: 1000 });
    const data = content(CHUNK, 8);
    const m = manifestFor('ttl.bin', data);
    await store.createFile(m);
    const stale = await store.chunkLocation(m.fileId, 0, 'write');
    data.copy(stale.buffer);
    await failsWith(store.chunkLocation(m.fileId, 0, 'write'), 'LOCKED');
    await sleep(1300);
    // The crashed writer's lock expired by itself: a new writer gets the chunk.
    const fresh = await store.chunkLocation(m.fileId, 0, 'write');
    await failsWith(store.chunkClose(stale.lease.leaseId, CHUNK), 'LEASE_EXPIRED');
    // The stale close did not free the new writer's lock.
    await failsWith(store.chunkLocation(m.fileId, 0, 'write'), 'LOCKED');
    data.copy(fresh.buffer);
    expect(await store.chunkClose(fresh.lease.leaseId, CHUNK)).toMatchObject({ available: true, fileComplete: true });

    // An expired read lease is reported as such too.
    const read = await store.leaseChunk(m.fileId, 0, 'read');
    await sleep(1300);
    await failsWith(store.chunkClose(read.leaseId), 'LEASE_EXPIRED');
  });

  test('NO_SPACE when the file does not fit STORE_CAPACITY; nothing is left on disk', async () => {
    const store = await h.store({ capacity: 3 * CHUNK });
    const a = manifestFor('a.bin', content(2 * CHUNK, 1));
    const b = manifestFor('b.bin', content(2 * CHUNK, 2));
    await store.createFile(a);
    expect(await store.stats()).toEqual({ nodeId: store.nodeId, capacity: 3 * CHUNK, used: 2 * CHUNK, free: CHUNK, files: 1 });
    expect(await failsWith(store.createFile(b), 'NO_SPACE')).toContain('b.bin');
    const path = (await store.leaseChunk(a.fileId, 0, 'write')).path;
    expect(existsSync(join(path, '..', '..', b.fileId))).toBe(false);
    expect((await store.files()).map((f) => f.name)).toEqual(['a.bin']);
  });

  test('stats with STORE_CAPACITY=0 offer what the disk has free', async () => {
    const store = await h.store();
    const s = await store.stats();
    expect(s.used).toBe(0);
    expect(s.free).toBeGreaterThan(0);
    expect(s.capacity).toBe(s.free);
  });

  test('after close() every call is UNAVAILABLE', async () => {
    const store = await h.store();
    store.close();
    await failsWith(store.files(), 'UNAVAILABLE');
    await failsWith(store.chunkClose('x'), 'UNAVAILABLE');
  });

  test('deletes a file: data, manifest, bitmap and index go; a lease still out fails its close with NOT_FOUND; a rebuild does not bring it back; it can be created again (issue 14)', async () => {
    const store = await h.store();
    const data = content(3 * CHUNK, 21);
    const m = manifestFor('deleted.bin', data);
    await store.createFile(m);
    await writeChunk(store, m.fileId, 0, chunkOf(data, 0));
    const { lease, buffer } = await store.chunkLocation(m.fileId, 1, 'write');
    chunkOf(data, 1).copy(buffer);
    const dir = join(lease.path, '..');
    const spaceBefore = await store.stats();

    expect(await store.deleteFile(m.fileId)).toEqual({ nodeId: store.nodeId, fileId: m.fileId, deleted: true, bytes: data.length });
    expect(existsSync(dir)).toBe(false);
    await failsWith(store.have(m.fileId), 'NOT_FOUND');
    expect((await store.files()).some((f) => f.fileId === m.fileId)).toBe(false);
    expect((await store.stats()).used).toBe(spaceBefore.used - data.length);
    // The writer that was mid-chunk hears why its chunk cannot count.
    expect(await failsWith(store.chunkClose(lease.leaseId, CHUNK), 'NOT_FOUND')).toMatch(/not in this store|deleted/);
    // Idempotent.
    expect(await store.deleteFile(m.fileId)).toMatchObject({ deleted: false, bytes: 0 });
    await store.checkIndex();
    await failsWith(store.have(m.fileId), 'NOT_FOUND');

    // Created again from scratch: nothing of the deleted copy (cached summary, bits, locks) remains.
    expect(await store.createFile(m)).toMatchObject({ chunksPresent: 0, state: 'partial' });
    for (let i = 0; i < 3; i++) await writeChunk(store, m.fileId, i, chunkOf(data, i));
    expect((await store.have(m.fileId)).present).toBe(3);
  });
});
