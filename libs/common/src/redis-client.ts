import Redis, { type RedisOptions } from 'ioredis';
import { SwarmError } from './errors';
import { redisTlsOptions } from './security/redis-users';

/** How long a Redis command may take by default (REDIS_COMMAND_TIMEOUT_MS): below REQUEST_TIMEOUT_MS, so callers hear why. */
export const DEFAULT_REDIS_COMMAND_TIMEOUT_MS = 3000;

export interface RedisClientOptions {
  /** PEM file of the CA that signed Redis's certificate (REDIS_CA_FILE), for a rediss:// URL. */
  caFile?: string;
  /** REDIS_COMMAND_TIMEOUT_MS; default DEFAULT_REDIS_COMMAND_TIMEOUT_MS. */
  commandTimeoutMs?: number;
  /** The caller's other ioredis options (retries, pipelining, offline queue). */
  ioredis?: Omit<RedisOptions, 'commandTimeout' | 'tls'>;
}

/** ioredis's own message when commandTimeout expires. */
const IOREDIS_TIMEOUT = 'Command timed out';
const WRAPPED = Symbol('swarmshare.redis.timeout-message');

/**
 * The one way Swarmshare makes a Redis client: TLS from the URL (rediss://, REDIS_CA_FILE), and a
 * command timeout. Without one, a command sent to a Redis that stopped answering (paused, swapping,
 * a half-open connection) waits forever, and so does the NATS request that needed it; with it, the
 * command fails with TIMEOUT and a message naming the server and the setting.
 */
export function createRedis(url: string, o: RedisClientOptions = {}): Redis {
  const ms = o.commandTimeoutMs ?? DEFAULT_REDIS_COMMAND_TIMEOUT_MS;
  const redis = new Redis(url, { ...o.ioredis, ...redisTlsOptions(url, o.caFile), commandTimeout: ms });
  const send = redis.sendCommand.bind(redis);
  // Every command (pipelined or not) passes here, where ioredis arms its timer: its bare
  // "Command timed out" becomes a SwarmError that says what to check.
  redis.sendCommand = (command, stream) => {
    const c = command as typeof command & { [WRAPPED]?: true };
    if (!c[WRAPPED]) {
      c[WRAPPED] = true;
      const reject = c.reject;
      c.reject = (err: Error) =>
        reject(
          err?.message === IOREDIS_TIMEOUT
            ? new SwarmError('TIMEOUT', `redis at ${redactUrl(url)} did not answer ${c.name.toUpperCase()} within ${ms} ms (REDIS_COMMAND_TIMEOUT_MS): check that redis-server is running, reachable and not overloaded`)
            : err,
        );
    }
    return send(command, stream);
  };
  return redis;
}

/** A URL without its password, for logs and health output. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return '(unparsable url)';
  }
}
