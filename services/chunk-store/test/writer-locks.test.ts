import { content, failsWith, Harness, manifestFor } from './support';

/**
 * Write locks tied to their writer session (real Redis, real files, injected clock): released by a
 * new session's hello, by the session's lapse, or when the same session asks for the chunk again;
 * never taken from a live session by another one.
 */
describe('chunk-store: write locks live as long as their writer session', () => {
  const h = new Harness();
  beforeAll(() => h.setup());
  afterAll(() => h.teardown());

  async function storeWithFile(now: () => number) {
    const store = await h.store({ now, writerTimeoutMs: 5000 });
    const m = manifestFor('locks.bin', content(4 * 65536, 9));
    await store.createFile(m);
    return { store, fileId: m.fileId };
  }

  test('a new session’s hello releases its dead predecessor’s locks, and only those', async () => {
    const { store, fileId } = await storeWithFile(Date.now);
    await store.writerHeartbeat('old', true);
    const held = await store.leaseChunk(fileId, 0, 'write', 'old');
    await failsWith(store.leaseChunk(fileId, 0, 'write', 'new'), 'LOCKED');
    await failsWith(store.leaseChunk(fileId, 0, 'write'), 'LOCKED');
    expect(await store.writerHeartbeat('new', true)).toEqual({ released: 1 });
    const fresh = await store.leaseChunk(fileId, 0, 'write', 'new');
    // The old lease lost its lock: its close is refused, so its bytes can never be published.
    await failsWith(store.chunkClose(held.leaseId, held.length), 'LEASE_EXPIRED');
    expect(fresh.leaseId).not.toBe(held.leaseId);
  });

  test('a session silent for WRITER_TIMEOUT_MS loses its locks; one that heartbeats keeps them', async () => {
    let now = 1_000_000;
    const { store, fileId } = await storeWithFile(() => now);
    await store.leaseChunk(fileId, 1, 'write', 'quiet');
    await store.leaseChunk(fileId, 2, 'write', 'alive');
    now += 4000;
    await store.writerHeartbeat('alive');
    now += 1500;
    await store.releaseLapsedWriters();
    await failsWith(store.leaseChunk(fileId, 2, 'write', 'other'), 'LOCKED');
    const taken = await store.leaseChunk(fileId, 1, 'write', 'other');
    expect(taken.index).toBe(1);
  });

  test('the same session asking again for a chunk it holds gets a new lease; the given-up one cannot close', async () => {
    const { store, fileId } = await storeWithFile(Date.now);
    const first = await store.leaseChunk(fileId, 3, 'write', 'g');
    const again = await store.leaseChunk(fileId, 3, 'write', 'g');
    expect(again.leaseId).not.toBe(first.leaseId);
    await failsWith(store.chunkClose(first.leaseId, first.length), 'LEASE_EXPIRED');
    // A writer without a session keeps the old rule: LOCKED until the lease is closed or expires.
    await failsWith(store.leaseChunk(fileId, 3, 'write'), 'LOCKED');
  });
});
