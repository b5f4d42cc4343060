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
} as const;

export function storeSubjects(nodeId: string) {
  const p = `swarm.node.${nodeId}.store`;
  return {
    create: `${p}.create`,
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
    stats: `${p}.stats`,
    /** Local import (file-import.ts): a staging file, then its adoption after the store hashed it. */
    importBegin: `${p}.import.begin`,
    importCommit: `${p}.import.commit`,
    importAbort: `${p}.import.abort`,
    /** The node's gateway says hello and heartbeats: its write locks live as long as it does. */
    writer: `${p}.writer`,
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
  } as const;
}

/**
 * Events. file.completed is a durable fact (the JetStream stream in nats/facts-stream.ts); the
 * progress events are core NATS, fire-and-forget, and consumers tolerate losing any of them
 * (see docs/architecture.md "Events, facts and soft state").
 */
export const EventSubjects = {
  fileCompleted: 'swarm.evt.file.completed',
  downloadProgress: 'swarm.evt.download.progress',
  replicateProgress: 'swarm.evt.replicate.progress',
} as const;
