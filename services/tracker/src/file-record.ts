import type { FileRecord, PeerRecord, PeerRef } from '@swarmshare/common';
import { isLive, type TrackedPeer } from './liveness';

/** What Redis holds about a file, before liveness is applied. */
export interface StoredFileMeta {
  fileId: string;
  name: string;
  size: number;
  chunkSize: number;
  chunkCount: number;
  hash: string;
  registeredAt: number;
  /** Copies per chunk of a replicated upload. */
  replicas?: number;
  /** `share --ttl`: when the file expires (ms, the tracker's clock). */
  expiresAt?: number;
}

export interface StoredFile {
  meta: StoredFileMeta;
  seeders: string[];
  /** Seeders that hold only their share of a replicated upload (listed as `partial`, not as seeders). */
  partial?: string[];
  /** `since`: when the node started downloading. */
  leechers: Array<{ nodeId: string; since: number }>;
  downloads: number;
}

export interface AssembledFile {
  record: FileRecord;
  /** Swarm members that are not live peers: the caller prunes them from the file's sets. */
  dead: string[];
}

/**
 * Build the FileRecord clients see. Only live peers are listed, each with the address from its peer
 * record (so a peer that moved is reached at its new address); a node that is not a live peer is
 * dropped rather than listed with a null address, because nothing could be fetched from it.
 * Seeders are ordered by node id, leechers by when they started; a node in both is a seeder.
 * Seeders holding only their share of a replicated upload are listed apart, as `partial`: they serve
 * what they hold, but only `seeders` hold the whole file.
 */
export function assembleFileRecord(file: StoredFile, peers: ReadonlyMap<string, TrackedPeer>, now: number, ttlMs: number): AssembledFile {
  const dead = new Set<string>();
  const ref = (nodeId: string): PeerRef | null => {
    const peer = peers.get(nodeId);
    if (!isLive(peer, now, ttlMs)) {
      dead.add(nodeId);
      return null;
    }
    return { nodeId, address: peer!.address };
  };
  const seederIds = new Set(file.seeders);
  const partialIds = new Set(file.partial ?? []);
  const holders = (complete: boolean) =>
    [...seederIds]
      .filter((id) => partialIds.has(id) !== complete)
      .sort()
      .map(ref)
      .filter((r): r is PeerRef => r !== null);
  const seeders = holders(true);
  const partial = holders(false);
  // Pins travel with each holder's announce, so `ls` needs nothing but this record.
  const holderIds = [...seeders, ...partial].map((r) => r.nodeId);
  const pinnedBy = holderIds.filter((id) => peers.get(id)!.pins?.has(file.meta.fileId));
  const pinsUnknown = holderIds.filter((id) => !peers.get(id)!.pins);
  const leechers = [...file.leechers]
    .filter((l) => !seederIds.has(l.nodeId))
    .sort((a, b) => a.since - b.since || (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0))
    .map((l) => ref(l.nodeId))
    .filter((r): r is PeerRef => r !== null);
  return {
    record: { ...file.meta, downloads: file.downloads, seeders, partial, leechers, pinnedBy, pinsUnknown },
    dead: [...dead],
  };
}

/**
 * An expired file's record is forgotten once no live peer holds or fetches it: until then its holders'
 * GC reads the expiry from it; after, a tombstone tells holders that were away to delete their copy.
 */
export function isForgettable(record: FileRecord, now: number): boolean {
  return record.expiresAt !== undefined && record.expiresAt <= now && record.seeders.length + (record.partial?.length ?? 0) + record.leechers.length === 0;
}

/** Stable order for file lists: oldest registration first. */
export function compareFiles(a: FileRecord, b: FileRecord): number {
  return a.registeredAt - b.registeredAt || (a.fileId < b.fileId ? -1 : a.fileId > b.fileId ? 1 : 0);
}

/** Peer list order: most free space first (the peers replication should pick), then node id. */
export function comparePeers(a: PeerRecord, b: PeerRecord): number {
  return b.free - a.free || (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0);
}
