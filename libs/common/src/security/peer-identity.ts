import { X509Certificate } from 'node:crypto';

/**
 * A peer's identity is its node id (or `cli-…` for a client), named in its certificate as the SAN
 * URI `swarmshare://node/<id>`. Only the swarm's CA issues such certificates, so the id a TLS peer
 * proves is the one it may use in HELLO.
 */
export const PEER_IDENTITY_URI_PREFIX = 'swarmshare://node/';

export function peerIdentityUri(id: string): string {
  return `${PEER_IDENTITY_URI_PREFIX}${id}`;
}

/**
 * The identity in a certificate's subjectAltName (as Node prints it: `URI:swarmshare://node/a,
 * DNS:x`), or undefined when it names none. Exactly one identity URI is accepted.
 */
export function identityFromSubjectAltName(san: string | undefined): string | undefined {
  if (!san) return undefined;
  const ids = san
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith(`URI:${PEER_IDENTITY_URI_PREFIX}`))
    .map((s) => s.slice(`URI:${PEER_IDENTITY_URI_PREFIX}`.length));
  return ids.length === 1 && ids[0].length > 0 ? ids[0] : undefined;
}

/** The identity a PEM certificate names (for a start-up check that a node's cert is its own). */
export function identityOfCertificate(pem: string | Buffer): string | undefined {
  return identityFromSubjectAltName(new X509Certificate(pem).subjectAltName);
}
