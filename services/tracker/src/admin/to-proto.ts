import type { DownloadStatus, FileRecord, PeerRecord, PreheatJob, TFileDef } from '@swarmshare/common';

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

export function preheatJobMessage(j: PreheatJob) {
  return {
    job_id: j.jobId,
    file_id: j.fileId,
    concurrency: j.concurrency,
    state: j.state,
    created_at_ms: j.createdAt,
    updated_at_ms: j.updatedAt,
    peak_running: j.peakRunning,
    owner: j.owner ?? '',
    nodes: j.nodes.map((n) => ({
      node_id: n.nodeId,
      state: n.state,
      error: n.error ?? '',
      start_seq: n.startSeq ?? 0,
      end_seq: n.endSeq ?? 0,
      attempts: n.attempts,
      chunks_done: n.chunksDone ?? 0,
      chunk_count: n.chunkCount ?? 0,
    })),
  };
}
