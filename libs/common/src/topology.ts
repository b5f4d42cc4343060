/**
 * The environment each process of a swarm gets. The local launcher (`swarmshare up`) builds its
 * processes from these functions, and the docker-compose / Kubernetes checks compare their env
 * against the same functions, so the three deployments cannot drift apart.
 */
export interface ClusterUrls {
  natsUrl: string;
  redisUrl: string;
}

export interface NodeSpec {
  nodeId: string;
  dataDir: string;
  peerPort: number;
  /** host:port other peers dial. */
  advertiseAddress: string;
  peerHost?: string;
  /** Peer mutual TLS files of the node (CA, its certificate, key), or 'off' for the explicit opt-out. */
  peerTls?: { ca: string; cert: string; key: string } | 'off';
}

export type Env = Record<string, string>;

export function trackerEnv(c: ClusterUrls, extra: Env = {}): Env {
  return { NATS_URL: c.natsUrl, REDIS_URL: c.redisUrl, ...extra };
}

export function chunkStoreEnv(c: ClusterUrls, n: NodeSpec, extra: Env = {}): Env {
  return { NATS_URL: c.natsUrl, REDIS_URL: c.redisUrl, NODE_ID: n.nodeId, DATA_DIR: n.dataDir, ...extra };
}

export function peerGatewayEnv(c: ClusterUrls, n: NodeSpec, extra: Env = {}): Env {
  return {
    NATS_URL: c.natsUrl,
    NODE_ID: n.nodeId,
    DATA_DIR: n.dataDir,
    PEER_HOST: n.peerHost ?? '0.0.0.0',
    PEER_PORT: String(n.peerPort),
    ADVERTISE_ADDRESS: n.advertiseAddress,
    ...peerTlsEnv(n.peerTls),
    ...extra,
  };
}

function peerTlsEnv(t: NodeSpec['peerTls']): Env {
  if (t === undefined) return {};
  if (t === 'off') return { PEER_TLS: 'off' };
  return { PEER_TLS: 'on', PEER_TLS_CA: t.ca, PEER_TLS_CERT: t.cert, PEER_TLS_KEY: t.key };
}

/** Node names a, b, c, ..., z, n26, n27, ... */
export function nodeName(i: number): string {
  return i < 26 ? String.fromCharCode(97 + i) : `n${i}`;
}
