/**
 * Peer liveness. A peer is live while its last announce is at most `ttlMs` old; an older peer is
 * not listed anywhere (peer list, seeders, leechers) and is pruned lazily.
 */

/** The oldest lastSeen that still counts as live. */
export function livenessCutoff(now: number, ttlMs: number): number {
  return now - ttlMs;
}

export function isLive(peer: { lastSeen: number } | undefined | null, now: number, ttlMs: number): boolean {
  return !!peer && peer.lastSeen >= livenessCutoff(now, ttlMs);
}
