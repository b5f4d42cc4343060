/**
 * A Redis that stops answering (SIGSTOP: the socket stays open, nothing comes back) must not hang
 * the services: every command has REDIS_COMMAND_TIMEOUT_MS, after which it fails with TIMEOUT and
 * a message naming the server and the setting. Its own redis-server, so pausing it touches no
 * other test; a real tracker process on it shows the error reaching a NATS caller.
 */
import type Redis from 'ioredis';
import { z } from 'zod';
import { createRedis, NatsRpc, SwarmError, TrackerSubjects, connectNats } from '@swarmshare/common';
import type { NatsConnection } from 'nats';
import { type LocalServer, startRedisServer } from '../support/infra';
import { type RunningService, startService } from '../support/services';

const TIMEOUT_MS = 400;

describe('Redis paused with SIGSTOP: commands fail within REDIS_COMMAND_TIMEOUT_MS', () => {
  let redis: LocalServer;
  const clients: Redis[] = [];
  let paused = false;

  const pause = () => {
    redis.process.kill('SIGSTOP');
    paused = true;
  };
  const resume = () => {
    if (paused) redis.process.kill('SIGCONT');
    paused = false;
  };

  beforeAll(async () => {
    redis = await startRedisServer();
  });

  afterEach(resume);

  afterAll(async () => {
    for (const c of clients) c.disconnect();
    resume();
    await redis?.stop();
  });

  function client(extra: Parameters<typeof createRedis>[1] = {}): Redis {
    const c = createRedis(redis.url, { commandTimeoutMs: TIMEOUT_MS, ...extra });
    c.on('error', () => undefined);
    clients.push(c);
    return c;
  }

  it.each([
    ['a plain client', {}],
    ['an auto-pipelining client with retries (as the tracker and chunk-store make them)', { ioredis: { enableAutoPipelining: true, maxRetriesPerRequest: 3 } }],
  ])('%s: a command to the paused server fails with TIMEOUT in about the bound, then works again after SIGCONT', async (_name, extra) => {
    const c = client(extra);
    await c.set('k', 'v');
    pause();
    const started = performance.now();
    const err = await Promise.all([c.get('k'), c.hget('h', 'f')]).catch((e: unknown) => e);
    const took = performance.now() - started;
    expect(err).toBeInstanceOf(SwarmError);
    expect((err as SwarmError).code).toBe('TIMEOUT');
    expect((err as Error).message).toMatch(new RegExp(`^redis at redis://127\\.0\\.0\\.1:\\d+ did not answer (GET|HGET) within ${TIMEOUT_MS} ms \\(REDIS_COMMAND_TIMEOUT_MS\\)`));
    expect(took).toBeGreaterThanOrEqual(TIMEOUT_MS - 20);
    expect(took).toBeLessThan(TIMEOUT_MS + 1500);
    resume();
    await expect(c.get('k')).resolves.toBe('v');
  });

  describe('a tracker on that Redis', () => {
    let tracker: RunningService;
    let nc: NatsConnection;
    let rpc: NatsRpc;

    beforeAll(async () => {
      tracker = await startService('tracker', { NATS_URL: process.env.NATS_URL!, REDIS_URL: redis.url, REDIS_COMMAND_TIMEOUT_MS: String(TIMEOUT_MS) });
      nc = await connectNats(process.env.NATS_URL!, 'redis-paused-test');
      rpc = new NatsRpc(nc, 10_000);
    });

    afterAll(async () => {
      resume();
      await tracker?.stop();
      await nc?.close();
    });

    it('answers a request with the Redis timeout instead of letting it hang', async () => {
      const fileId = 'cd'.repeat(32);
      await expect(rpc.request(TrackerSubjects.getFile, { fileId }, z.unknown())).rejects.toMatchObject({ code: 'NOT_FOUND' });
      pause();
      const started = performance.now();
      const err = await rpc.request(TrackerSubjects.getFile, { fileId }, z.unknown()).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'TIMEOUT', message: expect.stringContaining(`within ${TIMEOUT_MS} ms (REDIS_COMMAND_TIMEOUT_MS)`) });
      expect(performance.now() - started).toBeLessThan(5000);
      resume();
      await expect(rpc.request(TrackerSubjects.getFile, { fileId }, z.unknown())).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });

    it('rejects a bad REDIS_COMMAND_TIMEOUT_MS at start-up, naming the variable', async () => {
      await expect(startService('tracker', { NATS_URL: process.env.NATS_URL!, REDIS_URL: redis.url, REDIS_COMMAND_TIMEOUT_MS: '5s' })).rejects.toThrow(/REDIS_COMMAND_TIMEOUT_MS: must be a whole number/);
    });
  });
});
