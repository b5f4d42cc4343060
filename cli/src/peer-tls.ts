import { loadPeerTls, type PeerTlsMaterial } from '@swarmshare/common/security';
import { DEFAULT_DATA_DIR, readClusterFile } from './cluster-file';

/**
 * The CLI's peer TLS material for share/fetch: PEER_TLS_CA/CERT/KEY from the environment (a swarm
 * `up` did not start), else what `up` recorded in DATA/cluster.json; PEER_TLS=off or a swarm started
 * --insecure means plaintext.
 */
export function resolvePeerTls(opts: { data?: string }, env: NodeJS.ProcessEnv = process.env): PeerTlsMaterial | undefined {
  if (env.PEER_TLS === 'off') return undefined;
  if (env.PEER_TLS_CA || env.PEER_TLS_CERT || env.PEER_TLS_KEY) {
    if (!env.PEER_TLS_CA || !env.PEER_TLS_CERT || !env.PEER_TLS_KEY) throw new Error('set all three of PEER_TLS_CA, PEER_TLS_CERT and PEER_TLS_KEY (or PEER_TLS=off)');
    return loadPeerTls({ ca: env.PEER_TLS_CA, cert: env.PEER_TLS_CERT, key: env.PEER_TLS_KEY });
  }
  const files = readClusterFile(opts.data ?? DEFAULT_DATA_DIR)?.peerTls;
  return files ? loadPeerTls(files) : undefined;
}
