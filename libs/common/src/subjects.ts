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
} as const;

export function storeSubjects(nodeId: string) {
  const p = `swarm.node.${nodeId}.store`;
  return {
    create: `${p}.create`,
    location: `${p}.location`,
    close: `${p}.close`,
    have: `${p}.have`,
    files: `${p}.files`,
    manifest: `${p}.manifest`,
    stats: `${p}.stats`,
  } as const;
}

export function gatewaySubjects(nodeId: string) {
  const p = `swarm.node.${nodeId}.gateway`;
  return {
    fetch: `${p}.fetch`,
    status: `${p}.status`,
    info: `${p}.info`,
  } as const;
}

/** Facts, published fire-and-forget. Consumers must tolerate losing any of them (see docs/architecture.md). */
export const EventSubjects = {
  chunkStored: 'swarm.evt.chunk.stored',
  fileCompleted: 'swarm.evt.file.completed',
  downloadProgress: 'swarm.evt.download.progress',
  peerSeen: 'swarm.evt.peer.seen',
} as const;
