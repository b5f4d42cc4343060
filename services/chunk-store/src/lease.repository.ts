import type Redis from 'ioredis';
import { type Lease, LeaseSchema } from '@swarmshare/common';
import { RedisKeys } from './redis-keys';

const TOMBSTONE = '!closed';

// Atomically turn an open lease into a tombstone, so of two concurrent closes exactly one proceeds,
// and say whether a write lease still holds its chunk's lock. The lock key is built from the lease
// record (ARGV[3] is the lock key prefix): it carries the node's hash tag, so it is in the lease's slot.
const CLAIM = `
local v = redis.call('GET', KEYS[1])
if not v then return false end
if v == ARGV[1] then return {ARGV[1], 0} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local ok, l = pcall(cjson.decode, v)
local owns = 0
if ok and type(l) == 'table' and l.mode == 'write' and redis.call('GET', ARGV[3] .. tostring(l.fileId) .. ':' .. string.format('%d', tonumber(l.index) or -1)) == l.leaseId then owns = 1 end
return {v, owns}`;

// A write lease in one round trip: only for an indexed file, a missing chunk and a free lock.
const ACQUIRE_WRITE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 'NOINDEX' end
if redis.call('GETBIT', KEYS[2], ARGV[1]) == 1 then return 'PRESENT' end
if not redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[3], 'NX') then return 'LOCKED' end
redis.call('SET', KEYS[4], ARGV[5], 'PX', ARGV[4])
return 'OK'`;

// Delete a lock only if this lease still holds it: an expired writer must not free its successor's lock.
const UNLOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/** `ownsLock`: a write lease still holds its chunk's lock (it was not expired and taken over). */
export type ClaimResult = { state: 'open'; lease: Lease; ownsLock: boolean } | { state: 'closed' } | { state: 'unknown' };

/** NOINDEX: the file is not in Redis (lost, or never created): the caller takes the careful path. */
export type AcquireResult = 'OK' | 'NOINDEX' | 'PRESENT' | 'LOCKED';

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

  /**
   * Take the chunk's write lock and record the lease, if the file is indexed and the chunk not
   * present: the lease path's whole Redis work in one round trip.
   */
  async acquireWrite(lease: Lease, lockTtlMs: number, keepMs: number): Promise<AcquireResult> {
    const { fileId, index, leaseId } = lease;
    const k = this.keys;
    return (await this.redis.eval(ACQUIRE_WRITE, 4, k.file(fileId), k.bits(fileId), k.lock(fileId, index), k.lease(leaseId), String(index), leaseId, String(lockTtlMs), String(keepMs), JSON.stringify(lease))) as AcquireResult;
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
    const r = (await this.redis.eval(CLAIM, 1, this.keys.lease(leaseId), TOMBSTONE, String(tombstoneMs), this.keys.lockPrefix())) as [string, number] | null;
    if (r === null) return { state: 'unknown' };
    const [v, owns] = r;
    if (v === TOMBSTONE) return { state: 'closed' };
    // A record we cannot read is no lease we handed out.
    let json: unknown;
    try {
      json = JSON.parse(v);
    } catch {
      return { state: 'unknown' };
    }
    const parsed = LeaseSchema.safeParse(json);
    return parsed.success ? { state: 'open', lease: parsed.data, ownsLock: owns === 1 } : { state: 'unknown' };
  }
}
