import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { type Server, createServer } from 'node:tls';
import { ensurePeerPki, loadPeerTls, type PeerTlsMaterial, type PeerTlsPaths, peerTlsServerOptions } from '@swarmshare/common';

/**
 * The test suite runs the peer plane with mutual TLS on, as `swarmshare up` does: one CA per test
 * file (in a temp dir removed at exit), a certificate per node id and per client id on demand.
 */
let dir: string | undefined;

function pkiDir(): string {
  if (!dir) {
    const d = mkdtempSync(join(tmpdir(), 'ss-pki-'));
    dir = d;
    process.once('exit', () => rmSync(d, { recursive: true, force: true }));
  }
  return dir;
}

export async function testPeerCert(id: string): Promise<PeerTlsPaths> {
  return (await ensurePeerPki(pkiDir(), [id]))[id];
}

/** A gateway's PEER_TLS_* environment for node `id`. */
export async function testGatewayTlsEnv(id: string): Promise<Record<string, string>> {
  const p = await testPeerCert(id);
  return { PEER_TLS: 'on', PEER_TLS_CA: p.ca, PEER_TLS_CERT: p.cert, PEER_TLS_KEY: p.key };
}

/** A client's (or a hand-driven peer's) TLS material from the test CA; `cli-test` unless named. */
export async function testPeerTls(id = 'cli-test'): Promise<PeerTlsMaterial> {
  return loadPeerTls(await testPeerCert(id));
}

/** A peer listener of a test (a fake holder or origin) over mutual TLS, as gateways dial only TLS. */
export function tlsPeerServer(tls: PeerTlsMaterial, onSocket: (s: Socket) => void): Server {
  return createServer(peerTlsServerOptions(tls, 5000), onSocket);
}
