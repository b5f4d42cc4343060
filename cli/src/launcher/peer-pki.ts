import { join } from 'node:path';
import { ensurePeerPki, type PeerTlsPaths } from '@swarmshare/common/security';

/** The peer id the CLI's certificate names: HELLO from `swarmshare share/fetch` says this. */
export const CLI_PEER_ID = 'cli-local';

/**
 * Server certificates `up` issues for its own loopback servers, by id: nats-server's (NATS TLS),
 * redis-server's and the trackers' gRPC admin port's. Clients check these host names; the ids are not node names.
 */
export const NATS_TLS_ID = 'nats-server';
export const ADMIN_TLS_ID = 'tracker-grpc';
/** redis-server's (rediss://, issue 11). */
export const REDIS_TLS_ID = 'redis-server';
const LOOPBACK = ['localhost', '127.0.0.1'];
const SERVER_HOSTS: Record<string, string[]> = { [NATS_TLS_ID]: LOOPBACK, [ADMIN_TLS_ID]: LOOPBACK, [REDIS_TLS_ID]: LOOPBACK };

/** Where `swarmshare up` keeps the swarm's peer CA and certificates: DATA/tls. */
export function pkiDir(dataDir: string): string {
  return join(dataDir, 'tls');
}

/**
 * The swarm's peer PKI under DATA/tls, with a certificate for each id (made on first use, kept
 * across restarts, so a restarted node keeps its identity).
 */
export function ensureSwarmPki(dataDir: string, ids: string[]): Promise<Record<string, PeerTlsPaths>> {
  return ensurePeerPki(pkiDir(dataDir), ids, SERVER_HOSTS);
}
