import { readFileSync } from 'node:fs';

/**
 * Redis least privilege (issue 11): an ACL user per service, each confined to its own keys. A
 * node's chunk-store sees only `ss:{node:<id>}:*` (services/chunk-store/src/redis-keys.ts); the
 * tracker only its `{peers}`, `{files}`, `{file:<id>}`, `{facts}` and `{preheat}` keys (services/tracker/src/tracker.repository.ts).
 * Dangerous commands (FLUSHALL, KEYS, CONFIG, DEBUG, ...) are refused to both; `INFO` stays, for
 * the client's ready check. The default user is switched off: no connection without a password.
 */
export type RedisUserKind = 'tracker' | 'chunk-store' | 'admin';

export interface RedisUser {
  user: string;
  password: string;
  /** Key patterns (Redis glob) the user may touch. */
  keys: string[];
}

/** The key pattern of one node's chunk index. */
export function storeKeyPattern(nodeId: string): string {
  return `ss:{node:${nodeId}}:*`;
}

export const TRACKER_KEY_PATTERNS = ['{peers}:*', '{files}:*', '{file:*', '{facts}:*', '{preheat}:*'];

export function redisUserName(kind: RedisUserKind, nodeId?: string): string {
  if (kind !== 'chunk-store') return kind;
  if (!nodeId) throw new Error('a chunk-store Redis user belongs to a node: pass its node id');
  return `store-${nodeId}`;
}

export function swarmRedisUsers(nodeIds: string[], password: (user: string) => string): RedisUser[] {
  const user = (kind: RedisUserKind, keys: string[], nodeId?: string): RedisUser => {
    const name = redisUserName(kind, nodeId);
    return { user: name, password: password(name), keys };
  };
  return [user('admin', ['*']), user('tracker', TRACKER_KEY_PATTERNS), ...nodeIds.map((id) => user('chunk-store', [storeKeyPattern(id)], id))];
}

/** One ACL line (aclfile format) per user; admin may do everything, services no dangerous command. */
export function redisAclFile(users: RedisUser[]): string {
  for (const u of users) {
    if (!/^[A-Za-z0-9_.-]+$/.test(u.user)) throw new Error(`Redis user name ${JSON.stringify(u.user)} must be letters, digits, '.', '_' or '-'`);
    if (/\s/.test(u.password) || u.password.length < 16) throw new Error(`the Redis password of ${u.user} must be at least 16 characters without spaces`);
  }
  const lines = users.map((u) => {
    const commands = u.user === 'admin' ? '+@all' : '+@all -@dangerous +info';
    return `user ${u.user} on >${u.password} resetkeys ${u.keys.map((k) => `~${k}`).join(' ')} resetchannels ${commands}`;
  });
  return `${['user default off resetkeys -@all', ...lines].join('\n')}\n`;
}


/**
 * ioredis options for TLS (issue 11): a rediss:// URL turns TLS on; with a CA file the server's
 * certificate is verified against it (else against the system's CAs).
 */
export function redisTlsOptions(url: string, caFile?: string): { tls?: { ca?: Buffer } } {
  if (!url.startsWith('rediss://')) return {};
  return { tls: caFile ? { ca: readFileSync(caFile) } : {} };
}
