import type { PeerRecord } from '@swarmshare/common';

/**
 * Peer liveness. A peer is live while its last announce is at most `ttlMs` old; an older peer is
 * not listed anywhere (peer list, seeders, leechers) and is pruned lazily.
 */

/** The oldest lastSeen that still counts as live. */
export function livenessCutoff(now: number, ttlMs: number): number {
  return now - ttlMs;
}

/**
 * A peer record as the tracker keeps it: `unreachableAt` set when a downloader reported it since its
 * last announce; `pins` the files its last announce said it pinned (unset: its gateway does not say).
 */
export type TrackedPeer = PeerRecord & { unreachableAt?: number; pins?: ReadonlySet<string> };

/**
 * Live: announced within `ttlMs`, and not reported unreachable since that announce. A reported
 * peer is hidden at once and listed again by its next announce, so a dead holder leaves the lists
 * when the first downloader fails to reach it, and a live one that was only unreachable from one
 * peer is back within one announce interval.
 */
export function isLive(peer: { lastSeen: number; unreachableAt?: number } | undefined | null, now: number, ttlMs: number): boolean {
  return !!peer && peer.lastSeen >= livenessCutoff(now, ttlMs) && !(peer.unreachableAt !== undefined && peer.unreachableAt >= peer.lastSeen);
}
