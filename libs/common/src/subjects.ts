/**
 * NATS subjects. Requests are plain JSON in, plain JSON out (see nats/plain-json.serializer.ts),
 * so `nats req swarm.tracker.file.list '{}'` works from any NATS client.
 *
 * Node-scoped subjects carry the node id as a token, so one NATS serves many nodes.
 */
export const TRACKER_QUEUE = 'swarmshare-tracker';

export const TrackerSubjects = {
  announce: 'swarm.tracker.announce',
  registerFile: 'swarm.tracker.file.register',
  getFile: 'swarm.tracker.file.get',
  findFile: 'swarm.tracker.file.find',
  listFiles: 'swarm.tracker.file.list',
  listPeers: 'swarm.tracker.peer.list',
  downloadStarted: 'swarm.tracker.download.started',
  downloadCompleted: 'swarm.tracker.download.completed',
  /** Replication (issue 3): live peers with room, most available first. */
  peerCandidates: 'swarm.tracker.peer.candidates',
  /** A downloader could not reach a holder: it is not listed until it announces again. */
  peerUnreachable: 'swarm.tracker.peer.unreachable',
  /** A download ended without completing (failed or cancelled): the node is no longer a leecher. */
  downloadStopped: 'swarm.tracker.download.stopped',
  /** A receiving node reserves space for an upload (atomic; NO_SPACE if it does not fit). */
  reserve: 'swarm.tracker.reservation.reserve',
  /** The seeder's node releases every reservation of an upload (done or failed). */
  release: 'swarm.tracker.reservation.release',
  listReservations: 'swarm.tracker.reservation.list',
  /** A holder acks the tracker for a download it served (after the downloader's RECEIPT). */
  downloadAcked: 'swarm.tracker.download.acked',
  /** What holders acked serving, per (downloader, holder), for one file. */
  downloadAcks: 'swarm.tracker.download.acks',
  /**
   * Admin (issue 14): delete a file from one node or everywhere. Everything under
   * `swarm.tracker.admin.>` is for operators (the CLI, the gRPC admin API's tracker) only: NATS
   * permissions grant it to no service user (docs/operations.md, "Who may delete").
   */
  deleteFile: 'swarm.tracker.admin.file.delete',
  /** Admin (issue 14): start a preheat job, read one, cancel one (docs/operations.md, "Preheat"). */
  preheatStart: 'swarm.tracker.admin.preheat.start',
  preheatStatus: 'swarm.tracker.admin.preheat.status',
  preheatCancel: 'swarm.tracker.admin.preheat.cancel',
} as const;

export function storeSubjects(nodeId: string) {
  const p = `swarm.node.${nodeId}.store`;
  return {
    create: `${p}.create`,
    /** A create whose manifest is larger than one message, page by page (ManifestPage). */
    createPage: `${p}.create.page`,
    location: `${p}.location`,
    /** Several leases in one request: a fetcher's pipeline refill in one message. */
    locationMany: `${p}.location.many`,
    close: `${p}.close`,
    /** Several closes in one request: a busy fetcher's control plane in fewer messages. */
    closeMany: `${p}.close.many`,
    have: `${p}.have`,
    layout: `${p}.layout`,
    files: `${p}.files`,
    manifest: `${p}.manifest`,
    /** One page of a manifest (any size; `manifest` answers only those of up to MAX_WHOLE_MANIFEST_HASHES). */
    manifestPage: `${p}.manifest.page`,
    stats: `${p}.stats`,
    /** Local import (file-import.ts): a staging file, then its adoption after the store hashed it. */
    importBegin: `${p}.import.begin`,
    importCommit: `${p}.import.commit`,
    importAbort: `${p}.import.abort`,
    /** The node's gateway says hello and heartbeats: its write locks live as long as it does. */
    writer: `${p}.writer`,
    /** Re-hash present chunks from disk; those that fail become missing (corrupt-chunk repair). */
    verify: `${p}.verify`,
    /** Event: the store found corrupt chunks (scrub or verify); its gateway fetches them again. */
    corrupt: `${p}.evt.corrupt`,
    /** Remove a file's data, manifest, bitmap and index. Only the node's own gateway calls it. */
    delete: `${p}.delete`,
    /** Set or clear a file's pin (kept on disk with the file). Only the node's own gateway calls it. */
    pin: `${p}.pin`,
  } as const;
}

export function gatewaySubjects(nodeId: string) {
  const p = `swarm.node.${nodeId}.gateway`;
  return {
    fetch: `${p}.fetch`,
    status: `${p}.status`,
    info: `${p}.info`,
    /** Replication (issue 3): push a file this node holds to chosen peers, then register it. */
    replicate: `${p}.replicate`,
    replicateStatus: `${p}.replicate.status`,
    /** Check chunks of a file this node holds and fetch the corrupt ones again (fetch -o does this on a mismatch). */
    repair: `${p}.repair`,
  } as const;
}

/**
 * A node's admin subjects (issue 14), served by its gateway, which stops its own transfers of the
 * file first. For the tracker and operators only: `swarm.node.*.admin.>` is granted to no other user.
 */
export function nodeAdminSubjects(nodeId: string) {
  const p = `swarm.node.${nodeId}.admin`;
  return {
    delete: `${p}.delete`,
    /** Run the node's garbage collection now (`swarmshare gc --node N`). */
    gc: `${p}.gc`,
    /** `swarmshare pin|unpin ID --node N`: watermark GC never evicts a pinned file. */
    pin: `${p}.pin`,
    unpin: `${p}.unpin`,
  } as const;
}

/**
 * Events. file.completed is a durable fact (the JetStream stream in nats/facts-stream.ts, with FactSubjects); the
 * progress events are core NATS, fire-and-forget, and consumers tolerate losing any of them
 * (see docs/architecture.md "Events, facts and soft state").
 */
export const EventSubjects = {
  fileCompleted: 'swarm.evt.file.completed',
  /** Every node's download progress; one node's is downloadProgressSubject(node). */
  downloadProgress: 'swarm.evt.download.progress.*',
  replicateProgress: 'swarm.evt.replicate.progress',
} as const;

/**
 * One node's download progress events: a watcher (the CLI's fetch, the admin API's Fetch stream)
 * follows one node, so it takes only that node's events, not every node's; and a gateway may
 * publish only its own (natsPermissions).
 */
export function downloadProgressSubject(nodeId: string): string {
  return `swarm.evt.download.progress.${nodeId}`;
}

/**
 * Facts a gateway could not hand the tracker by request (no tracker answered, or it timed out):
 * published to the JetStream facts stream instead, and applied when a tracker consumes them. The
 * bodies are the tracker requests' bodies (downloadCompleted, downloadAcked, registerFile with holders).
 */
export const FactSubjects = {
  downloadCompleted: 'swarm.evt.download.completed',
  downloadAcked: 'swarm.evt.download.acked',
  /** A replicated upload finished: its placements (holders) registered with the file. */
  replicationFinished: 'swarm.evt.replication.finished',
} as const;
