import type Redis from 'ioredis';
import { type Lease, LeaseSchema } from '@swarmshare/common';
import { RedisKeys } from './redis-keys';

const TOMBSTONE = '!closed';

// Atomically turn an open lease into a tombstone, so of two concurrent closes exactly one proceeds.
const CLAIM = `
local v = redis.call('GET', KEYS[1])
if not v then return false end
if v == ARGV[1] then return ARGV[1] end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return v`;

// Delete a lock only if this lease still holds it: an expired writer must not free its successor's lock.
const UNLOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

export type ClaimResult = { state: 'open'; lease: Lease } | { state: 'closed' } | { state: 'unknown' };

/**
 * Leases and chunk locks in Redis. A write lock is SET NX PX: two writers never hold one chunk, and a
 * crashed writer's lock disappears after the lease TTL without anyone cleaning up.
 */
export class LeaseRepository {
  private readonly keys: RedisKeys;

  constructor(
    private readonly redis: Redis,
    nodeId: string,
  ) {
    this.keys = new RedisKeys(nodeId);
  }

  async tryLock(fileId: string, index: number, leaseId: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(this.keys.lock(fileId, index), leaseId, 'PX', ttlMs, 'NX')) === 'OK';
  }

  async ownsLock(fileId: string, index: number, leaseId: string): Promise<boolean> {
    return (await this.redis.get(this.keys.lock(fileId, index))) === leaseId;
  }

  async unlock(fileId: string, index: number, leaseId: string): Promise<void> {
    await this.redis.eval(UNLOCK, 1, this.keys.lock(fileId, index), leaseId);
  }

  /**
   * Drop every chunk lock of this node. Only at start-up: a restarted chunk-store holds no open
   * write (its mappings died with the old process), so locks left by a killed writer would only
   * make a resumed download wait out LEASE_TTL_MS. Returns how many were dropped.
   */
  async clearLocks(): Promise<number> {
    let n = 0;
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', this.keys.lockPattern(), 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) n += await this.redis.del(...keys);
    } while (cursor !== '0');
    return n;
  }

  /** Keep the lease for `keepMs` (longer than its TTL, so a late close is told EXPIRED, not UNKNOWN). */
  async save(lease: Lease, keepMs: number): Promise<void> {
    await this.redis.set(this.keys.lease(lease.leaseId), JSON.stringify(lease), 'PX', keepMs);
  }

  /** Close a lease exactly once; a closed lease stays as a tombstone for `tombstoneMs`. */
  async claim(leaseId: string, tombstoneMs: number): Promise<ClaimResult> {
    const v = (await this.redis.eval(CLAIM, 1, this.keys.lease(leaseId), TOMBSTONE, String(tombstoneMs))) as string | null;
    if (v === null) return { state: 'unknown' };
    if (v === TOMBSTONE) return { state: 'closed' };
    // A record we cannot read is no lease we handed out.
    let json: unknown;
    try {
      json = JSON.parse(v);
    } catch {
      return { state: 'unknown' };
    }
    const parsed = LeaseSchema.safeParse(json);
    return parsed.success ? { state: 'open', lease: parsed.data } : { state: 'unknown' };
  }
}
