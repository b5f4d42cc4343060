import type Redis from 'ioredis';
import { PreheatStore } from '../src/preheat/preheat.store';
import { hex64, rawRedis } from './support';

/**
 * The preheat job store against a real Redis: the rules its scripts enforce in one step, which is
 * what keeps a job's concurrency limit and its cancel true when several trackers touch it.
 */
const DB = 13;
let redis: Redis;
let store: PreheatStore;

beforeAll(() => {
  redis = rawRedis(DB);
  store = new PreheatStore(redis);
});

// This file owns its Redis database, so each test starts from an empty one.
beforeEach(() => redis.flushdb());

afterAll(async () => {
  await redis.quit();
});

const queued = (ids: string[]) => ids.map((nodeId) => ({ nodeId, state: 'queued' as const, attempts: 0 }));
const stateOf = async (jobId: string, nodeId: string) => (await store.read(jobId))!.nodes.find((n) => n.nodeId === nodeId)!;

it('starts a node only for the lease holder, and never more than the concurrency at once', async () => {
  await store.create('ph-1', hex64(), 2, queued(['a', 'b', 'c']), 1);
  expect(await store.lease('ph-1', 'tracker-1', 10_000)).toBe(true);
  expect(await store.lease('ph-1', 'tracker-2', 10_000)).toBe(false);
  // tracker-2 believes it holds the lease: its start is refused.
  expect(await store.move('ph-1', 'a', ['queued'], 'running', 2, { owner: 'tracker-2' })).toBe(-1);
  expect(await store.move('ph-1', 'a', ['queued'], 'running', 2, { owner: 'tracker-1' })).toBe(1);
  expect(await store.move('ph-1', 'b', ['queued'], 'running', 3, { owner: 'tracker-1' })).toBe(1);
  // A third would exceed 2.
  expect(await store.move('ph-1', 'c', ['queued'], 'running', 4, { owner: 'tracker-1' })).toBe(0);
  expect(await store.move('ph-1', 'a', ['running'], 'done', 5, { owner: 'tracker-1' })).toBe(1);
  expect(await store.move('ph-1', 'c', ['queued'], 'running', 6, { owner: 'tracker-1' })).toBe(1);
  const job = (await store.read('ph-1'))!;
  expect(job.peak).toBe(2);
  expect(job.owner).toBe('tracker-1');
  expect(job.updatedAt).toBe(6);
  // Starts and ends are ordered by the job's own counter.
  expect(job.nodes.map((n) => [n.nodeId, n.state, n.startSeq, n.endSeq, n.attempts])).toEqual([
    ['a', 'done', 1, 3, 1],
    ['b', 'running', 2, undefined, 1],
    ['c', 'running', 4, undefined, 1],
  ]);
});

it('a node moves only from an allowed state; progress updates leave the counters alone', async () => {
  await store.create('ph-2', hex64(), 1, queued(['a']), 1);
  await store.lease('ph-2', 't', 10_000);
  expect(await store.move('ph-2', 'a', ['running'], 'done', 2)).toBe(0);
  expect(await store.move('ph-2', 'nobody', ['queued'], 'running', 2)).toBe(0);
  expect(await store.move('ph-2', 'a', ['queued'], 'running', 2, { owner: 't' })).toBe(1);
  expect(await store.move('ph-2', 'a', ['running'], 'running', 3, { owner: 't', progress: { chunksDone: 3, chunkCount: 8 } })).toBe(1);
  expect(await stateOf('ph-2', 'a')).toMatchObject({ state: 'running', startSeq: 1, attempts: 1, chunksDone: 3, chunkCount: 8 });
  expect(await store.move('ph-2', 'a', ['running'], 'failed', 4, { owner: 't', error: 'NO_SPACE: full' })).toBe(1);
  expect(await stateOf('ph-2', 'a')).toMatchObject({ state: 'failed', error: 'NO_SPACE: full', endSeq: 2 });
});

it('a down node is indexed for its announce, and queued again unless the job was cancelled', async () => {
  await store.create('ph-3', hex64(), 1, queued(['a', 'b']), 1);
  await store.lease('ph-3', 't', 10_000);
  for (const n of ['a', 'b']) {
    await store.move('ph-3', n, ['queued'], 'running', 2, { owner: 't' });
    await store.move('ph-3', n, ['running'], 'down', 3, { owner: 't', error: 'did not answer' });
  }
  expect(await store.downJobs('a')).toEqual(['ph-3']);
  expect(await store.move('ph-3', 'a', ['down'], 'queued', 4)).toBe(1);
  expect(await store.downJobs('a')).toEqual([]);
  expect(await stateOf('ph-3', 'a')).toMatchObject({ state: 'queued' });
  expect((await stateOf('ph-3', 'a')).error).toBeUndefined();

  await store.markCancelled('ph-3', 5);
  // Cancelled: nothing is queued again or started.
  expect(await store.move('ph-3', 'b', ['down'], 'queued', 6)).toBe(0);
  expect(await store.move('ph-3', 'a', ['queued'], 'running', 6, { owner: 't' })).toBe(0);
  expect(await store.move('ph-3', 'b', ['queued', 'down'], 'cancelled', 6)).toBe(1);
  expect(await store.downJobs('b')).toEqual([]);
});

it('the lease is renewed by its holder, given back, and then free for another tracker', async () => {
  await store.create('ph-4', hex64(), 1, queued(['a']), 1);
  expect(await store.lease('ph-4', 't1', 10_000)).toBe(true);
  expect(await store.lease('ph-4', 't1', 10_000)).toBe(true);
  await store.release('ph-4', 't2');
  expect(await store.lease('ph-4', 't2', 10_000)).toBe(false);
  await store.release('ph-4', 't1');
  expect(await store.lease('ph-4', 't2', 10_000)).toBe(true);
  // An expired lease (a crashed tracker) is free too.
  expect(await store.lease('ph-4', 't2', 1)).toBe(true);
  await new Promise((r) => setTimeout(r, 20));
  expect(await store.lease('ph-4', 't3', 10_000)).toBe(true);
});

it('an ended job leaves the active set; its record is kept for a while', async () => {
  await store.create('ph-5', hex64(), 1, queued(['a']), 1);
  expect(await store.activeJobs(10)).toEqual(['ph-5']);
  expect(await store.countActive()).toBe(1);
  await store.ended('ph-5');
  expect(await store.activeJobs(10)).toEqual([]);
  expect(await redis.ttl('{preheat}:job:ph-5')).toBeGreaterThan(0);
  expect((await store.read('ph-5'))!.nodes).toHaveLength(1);
});
