/**
 * Who holds which chunk's write lock, so a lock lives only as long as its owner does, not for the
 * whole LEASE_TTL_MS. A writer (the node's peer-gateway) names itself with a session id that is new
 * for every process, says hello when it starts and heartbeats while it lives. Its locks are released
 *
 * - when a new session says hello: one gateway per node, so its predecessor is gone;
 * - when its heartbeats lapse for `timeoutMs` (crashed, or cut off from NATS);
 * - when it asks again for a chunk whose lock it already holds: the gateway keeps at most one open
 *   write per chunk, so it has given the earlier lease up (its close was lost, e.g. in a NATS outage).
 *
 * Pure bookkeeping with an injected clock; the store turns what it returns into Redis unlocks.
 * Bounded: at most `maxSessions` sessions are remembered (the least recently seen goes first).
 */
export interface HeldLock {
  fileId: string;
  index: number;
  leaseId: string;
}

interface Session {
  lastSeen: number;
  locks: Map<string, HeldLock>;
}

export class WriterSessions {
  private readonly sessions = new Map<string, Session>();
  /** Lock key -> owning session, for the same-owner check on LOCKED. */
  private readonly owners = new Map<string, string>();

  constructor(
    readonly timeoutMs: number,
    private readonly now: () => number = Date.now,
    private readonly maxSessions = 16,
  ) {}

  /**
   * A heartbeat (or any request) from `owner`. With `hello`, every other session's locks are
   * returned for release: the node's writer restarted. Also returns locks of sessions evicted to
   * keep the bound.
   */
  touch(owner: string, hello = false): HeldLock[] {
    const released: HeldLock[] = [];
    if (hello) for (const other of [...this.sessions.keys()]) if (other !== owner) released.push(...this.forget(other));
    const s = this.sessions.get(owner);
    if (s) {
      s.lastSeen = this.now();
      // Keep the map in recency order, so eviction takes the least recently seen.
      this.sessions.delete(owner);
      this.sessions.set(owner, s);
    } else {
      this.sessions.set(owner, { lastSeen: this.now(), locks: new Map() });
      while (this.sessions.size > this.maxSessions) released.push(...this.forget(this.sessions.keys().next().value!));
    }
    return released;
  }

  /** `owner` now holds the write lock of the chunk through lease `leaseId`. */
  track(owner: string, lock: HeldLock): HeldLock[] {
    const released = this.touch(owner);
    const k = key(lock.fileId, lock.index);
    this.sessions.get(owner)!.locks.set(k, lock);
    this.owners.set(k, owner);
    return released;
  }

  /** The lease was closed (or its lock released): no longer tracked. */
  untrack(fileId: string, index: number, leaseId: string): void {
    const k = key(fileId, index);
    const owner = this.owners.get(k);
    const held = owner === undefined ? undefined : this.sessions.get(owner)?.locks.get(k);
    if (!held || held.leaseId !== leaseId) return;
    this.sessions.get(owner!)!.locks.delete(k);
    this.owners.delete(k);
  }

  /** The lock `owner` holds on this chunk, if it holds it: a repeated request means it gave that lease up. */
  heldBy(owner: string, fileId: string, index: number): HeldLock | undefined {
    const k = key(fileId, index);
    return this.owners.get(k) === owner ? this.sessions.get(owner)?.locks.get(k) : undefined;
  }

  /** Sessions silent for longer than the timeout, each with the locks to release. */
  lapsed(): Array<{ owner: string; silentMs: number; locks: HeldLock[] }> {
    const t = this.now();
    const out: Array<{ owner: string; silentMs: number; locks: HeldLock[] }> = [];
    for (const [owner, s] of this.sessions) {
      if (t - s.lastSeen > this.timeoutMs) out.push({ owner, silentMs: t - s.lastSeen, locks: this.forget(owner) });
    }
    return out;
  }

  private forget(owner: string): HeldLock[] {
    const s = this.sessions.get(owner);
    if (!s) return [];
    this.sessions.delete(owner);
    for (const k of s.locks.keys()) this.owners.delete(k);
    return [...s.locks.values()];
  }
}

function key(fileId: string, index: number): string {
  return `${fileId}:${index}`;
}
