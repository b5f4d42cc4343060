import { readFileSync } from 'node:fs';
import { type ConnectionOptions, createSecureContext, type SecureContext, type TlsOptions } from 'node:tls';
import { SwarmError } from '../errors';
import { identityOfCertificate } from './peer-identity';

/** What a node or client needs for peer mutual TLS: the swarm CA, its own certificate and key (PEM). */
export interface PeerTlsMaterial {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
  /** The identity the certificate names (`swarmshare://node/<id>`). */
  identity: string;
}

export interface PeerTlsPaths {
  ca: string;
  cert: string;
  key: string;
}

/** Read the CA, certificate and key; a missing file or a certificate naming no identity is a clear error. */
export function loadPeerTls(p: PeerTlsPaths): PeerTlsMaterial {
  const read = (what: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (e) {
      throw new SwarmError('BAD_REQUEST', `cannot read the peer TLS ${what} ${path}: ${(e as Error).message}`);
    }
  };
  const m = { ca: read('CA certificate', p.ca), cert: read('certificate', p.cert), key: read('key', p.key) };
  let identity: string | undefined;
  try {
    identity = identityOfCertificate(m.cert);
  } catch (e) {
    throw new SwarmError('BAD_REQUEST', `${p.cert} is not a PEM certificate: ${(e as Error).message}`);
  }
  if (!identity) throw new SwarmError('BAD_REQUEST', `${p.cert} names no peer identity (a subjectAltName URI swarmshare://node/<id>); issue it from the swarm CA (docs/operations.md)`);
  return { ...m, identity };
}

/** TLS 1.3 only: the peer plane has no old clients to serve. */
const MIN_VERSION = 'TLSv1.3' as const;

/** Listener options: a client certificate from the swarm CA is required before any byte reaches the protocol. */
export function peerTlsServerOptions(m: PeerTlsMaterial, handshakeTimeoutMs: number): TlsOptions {
  return { ca: m.ca, cert: m.cert, key: m.key, requestCert: true, rejectUnauthorized: true, minVersion: MIN_VERSION, handshakeTimeout: handshakeTimeoutMs };
}

/**
 * Dialer options: the server's chain must lead to the swarm CA. Host names are not checked (peers
 * are dialled by address); the server's node id is checked against its certificate instead.
 */
export function peerTlsClientOptions(m: PeerTlsMaterial): ConnectionOptions {
  // TLS 1.3 only is set in the context: tls.connect takes versions from it, not from these options.
  return { secureContext: clientContext(m), rejectUnauthorized: true, checkServerIdentity: () => undefined };
}

/**
 * One client context per material: given ca/cert/key, tls.connect parses the PEMs into a new
 * context on every dial, and a fleet profile showed that as the largest part of a gateway's dialling
 * cost (about 4 s over 9 gateways in one bench:fleet round). New material (a new object) gets its own.
 */
const clientContexts = new WeakMap<PeerTlsMaterial, SecureContext>();
function clientContext(m: PeerTlsMaterial): SecureContext {
  let ctx = clientContexts.get(m);
  if (!ctx) {
    ctx = createSecureContext({ ca: m.ca, cert: m.cert, key: m.key, minVersion: MIN_VERSION });
    clientContexts.set(m, ctx);
  }
  return ctx;
}
