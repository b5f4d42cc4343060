import { type Logger, redisTlsOptions } from '@swarmshare/common';
import Redis from 'ioredis';

export const REDIS = Symbol('REDIS');

/**
 * Connect to Redis and wait until it answers a PING: the tracker keeps no state of its own, so it
 * must not log "ready" (and take requests from the queue group) before its store is reachable.
 */
export async function connectRedis(url: string, logger: Logger, caFile?: string): Promise<Redis> {
  const redis = new Redis(url, {
    ...redisTlsOptions(url, caFile),
    // Batch the many small per-file commands of an announce into few round trips.
    enableAutoPipelining: true,
    // Fail a request quickly while Redis is down, so the caller gets an error reply, not a timeout.
    maxRetriesPerRequest: 2,
    retryStrategy: (attempt) => Math.min(attempt * 100, 2000),
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

/** Never log a password that may be in the URL. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable url)';
  }
}
