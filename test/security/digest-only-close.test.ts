import { rmSync } from 'node:fs';
import { connect, type NatsConnection } from 'nats';
import { type Lease, mapRegion, storeSubjects, syncRegion } from '@swarmshare/common';
import { CHUNK, content, manifestFor, tmpDataDir, uniqueNodeId } from '../../services/chunk-store/test/support';
import { type RunningService, startService } from '../support/services';

/**
 * Issue 11, item 4: the chunk-store never marks a chunk present on trust. A client that writes wrong
 * bytes into a write lease and closes it with the manifest's digest (and the right length) gets
 * HASH_MISMATCH, and the chunk stays missing: the store hashes the bytes it holds.
 */
describe('digest-only close: a real chunk-store process over NATS', () => {
  let nc: NatsConnection;
  let store: RunningService;
  let dir: string;
  const nodeId = uniqueNodeId('digest');
  const s = storeSubjects(nodeId);
  const call = async (subject: string, body: unknown) => JSON.parse(Buffer.from((await nc.request(subject, Buffer.from(JSON.stringify(body)), { timeout: 5000 })).data).toString());
  const writeThroughMapping = (lease: Lease, bytes: Buffer) => {
    const region = mapRegion(lease.path, lease.offset, lease.length, 'write');
    bytes.copy(region);
    syncRegion(region);
  };

  beforeAll(async () => {
    dir = tmpDataDir();
    store = await startService('chunk-store', { NATS_URL: process.env.NATS_URL!, REDIS_URL: process.env.REDIS_URL!, NODE_ID: nodeId, DATA_DIR: dir });
    nc = await connect({ servers: process.env.NATS_URL! });
  });
  afterAll(async () => {
    await nc?.drain();
    await store?.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  test('the right digest over the wrong bytes leaves the chunk missing; the right bytes are taken', async () => {
    const data = content(2 * CHUNK, 11);
    const m = manifestFor('digest.bin', data);
    expect((await call(s.create, { manifest: m })).ok).toBe(true);

    const lease: Lease = (await call(s.location, { fileId: m.fileId, index: 0, mode: 'write' })).result;
    writeThroughMapping(lease, Buffer.alloc(CHUNK, 0x41));
    const forged = await call(s.close, { leaseId: lease.leaseId, written: CHUNK, sha256: m.hashes[0] });
    expect(forged).toMatchObject({ ok: false, error: { code: 'HASH_MISMATCH' } });
    expect((await call(s.have, { fileId: m.fileId })).result.present).toBe(0);
    expect(await call(s.location, { fileId: m.fileId, index: 0, mode: 'read' })).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });

    // The same through the batched close the gateway uses.
    const again: Lease = (await call(s.location, { fileId: m.fileId, index: 0, mode: 'write' })).result;
    writeThroughMapping(again, Buffer.alloc(CHUNK, 0x42));
    const many = await call(s.closeMany, { closes: [{ leaseId: again.leaseId, written: CHUNK, sha256: m.hashes[0] }] });
    expect(many.result.results[0]).toMatchObject({ ok: false, error: { code: 'HASH_MISMATCH' } });
    expect((await call(s.have, { fileId: m.fileId })).result.present).toBe(0);

    // The honest writer: the right bytes with their digest become present.
    const honest: Lease = (await call(s.location, { fileId: m.fileId, index: 0, mode: 'write' })).result;
    writeThroughMapping(honest, data.subarray(0, CHUNK));
    expect(await call(s.close, { leaseId: honest.leaseId, written: CHUNK, sha256: m.hashes[0] })).toMatchObject({ ok: true, result: { available: true } });
    expect((await call(s.have, { fileId: m.fileId })).result.present).toBe(1);
  });
});
