import { createRedis, type Logger, redactUrl } from '@swarmshare/common';
import type Redis from 'ioredis';

export const REDIS = Symbol('REDIS');

/**
 * Connect to Redis and wait until it answers a PING: the tracker keeps no state of its own, so it
 * must not log "ready" (and take requests from the queue group) before its store is reachable.
 */
export async function connectRedis(url: string, logger: Logger, opts: { caFile?: string; commandTimeoutMs?: number } = {}): Promise<Redis> {
  const redis = createRedis(url, {
    ...opts,
    ioredis: {
      // Batch the many small per-file commands of an announce into few round trips.
      enableAutoPipelining: true,
      // Fail a request quickly while Redis is down, so the caller gets an error reply, not a timeout.
      maxRetriesPerRequest: 2,
      retryStrategy: (attempt) => Math.min(attempt * 100, 2000),
    },
  });
  let lastWarn = 0;
  redis.on('error', (err: Error) => {
    // ioredis emits an error per failed reconnect; one line every few seconds is enough.
    if (Date.now() - lastWarn > 5000) {
      lastWarn = Date.now();
      logger.warn({ err: err.message, redis: redactUrl(url) }, 'redis unavailable, retrying');
    }
  });
  for (;;) {
    try {
      await redis.ping();
      logger.info({ redis: redactUrl(url) }, 'redis connected');
      return redis;
    } catch (err) {
      if (Date.now() - lastWarn > 5000) {
        lastWarn = Date.now();
        logger.warn({ err: (err as Error).message, redis: redactUrl(url) }, 'waiting for redis');
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
