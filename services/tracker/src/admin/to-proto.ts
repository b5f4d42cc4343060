import type { DownloadStatus, FileRecord, PeerRecord, TFileDef } from '@swarmshare/common';

/** The swarm's JSON records as the admin API's proto messages (field names as in admin.proto). */
export function fileMessage(f: FileRecord) {
  return {
    file_id: f.fileId,
    name: f.name,
    size: f.size,
    chunk_size: f.chunkSize,
    chunk_count: f.chunkCount,
    hash: f.hash,
    registered_at_ms: f.registeredAt,
    downloads: f.downloads,
    replicas: f.replicas ?? 0,
    seeders: f.seeders.map((p) => ({ node_id: p.nodeId, address: p.address ?? '' })),
    leechers: f.leechers.map((p) => ({ node_id: p.nodeId, address: p.address ?? '' })),
  };
}

export function peerMessage(p: PeerRecord) {
  return { node_id: p.nodeId, address: p.address, capacity: p.capacity, free: p.free, last_seen_ms: p.lastSeen, files: p.files };
}

export function storedFileMessage(f: TFileDef) {
  return { file_id: f.fileId, name: f.name, size: f.size, chunk_count: f.chunkCount, chunks_present: f.chunksPresent, state: f.state };
}

export function progressMessage(nodeId: string, s: DownloadStatus) {
  return {
    node_id: nodeId,
    file_id: s.fileId,
    state: s.state,
    chunk_count: s.chunkCount,
    chunks_done: s.chunksDone,
    bytes_done: s.bytesDone,
    size: s.size,
    from_peers: Object.entries(s.fromPeers).map(([node_id, bytes]) => ({ node_id, bytes })),
    error: s.error ?? '',
  };
}
