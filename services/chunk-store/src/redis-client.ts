import type Redis from 'ioredis';
import { createRedis, type Logger } from '@swarmshare/common';

/** A client that reconnects forever and fails a command after a few retries, or REDIS_COMMAND_TIMEOUT_MS, instead of hanging. */
export function createRedisClient(url: string, logger: Logger, opts: { caFile?: string; commandTimeoutMs?: number } = {}): Redis {
  const redis = createRedis(url, { ...opts, ioredis: { lazyConnect: true, enableAutoPipelining: true, maxRetriesPerRequest: 3, retryStrategy: (n) => Math.min(n * 200, 2000) } });
  let lastError = '';
  redis.on('error', (err: Error) => {
    // Reconnect attempts repeat the same error: log each distinct one once.
    if (err.message === lastError) return;
    lastError = err.message;
    logger.warn({ err: err.message }, 'redis connection error');
  });
  redis.on('ready', () => (lastError = ''));
  return redis;
}

/** Resolve once the client is connected, however many attempts that takes. */
export async function waitForRedis(redis: Redis): Promise<void> {
  if (redis.status === 'ready') return;
  const ready = new Promise<void>((resolve) => redis.once('ready', () => resolve()));
  if (redis.status === 'wait') redis.connect().catch(() => undefined);
  await ready;
}
