import { join } from 'node:path';
import { ensurePeerPki, type PeerTlsPaths } from '@swarmshare/common';

/** The peer id the CLI's certificate names: HELLO from `swarmshare share/fetch` says this. */
export const CLI_PEER_ID = 'cli-local';

/** Where `swarmshare up` keeps the swarm's peer CA and certificates: DATA/tls. */
export function pkiDir(dataDir: string): string {
  return join(dataDir, 'tls');
}

/**
 * The swarm's peer PKI under DATA/tls, with a certificate for each id (made on first use, kept
 * across restarts, so a restarted node keeps its identity).
 */
export function ensureSwarmPki(dataDir: string, ids: string[]): Promise<Record<string, PeerTlsPaths>> {
  return ensurePeerPki(pkiDir(dataDir), ids);
}
