import { createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as X509 from '@peculiar/x509';
import { SwarmError } from '../errors';
import { NodeIdSchema } from '../schemas';
import { peerIdentityUri } from './peer-identity';
import type { PeerTlsPaths } from './peer-tls';

/**
 * @peculiar/x509, loaded on first use: only `up`, `pki` and tests issue certificates, and every
 * service imports this library, so its start-up must not pay for loading it.
 */
let lib: typeof X509 | undefined;
function x509lib(): typeof X509 {
  if (!lib) {
    require('reflect-metadata'); // its DI container needs it loaded first
    lib = require('@peculiar/x509') as typeof X509;
    // Node's WebCrypto; the library's types are DOM's, which this project does not load.
    lib.cryptoProvider.set(webcrypto as never);
  }
  return lib;
}
type KeyPair = { publicKey: webcrypto.CryptoKey; privateKey: webcrypto.CryptoKey };

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;
/** The CA outlives many node certificates; node certificates are re-issued (rotated) within a year. */
export const CA_VALIDITY_DAYS = 3650;
export const PEER_CERT_VALIDITY_DAYS = 365;

export interface PemPair {
  certPem: string;
  keyPem: string;
}

async function keyPair(): Promise<KeyPair> {
  return (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as KeyPair;
}

async function keyPem(k: webcrypto.CryptoKey): Promise<string> {
  const x509 = x509lib();
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', k), 'PRIVATE KEY');
}

function serial(): string {
  // Positive, unique: 16 random bytes with the top bit cleared.
  const b = randomBytes(16);
  b[0] &= 0x7f;
  return b.toString('hex');
}

/** A new swarm CA (self-signed, may sign only end-entity certificates). */
export async function createPeerCa(name = 'Swarmshare peer CA'): Promise<PemPair> {
  const x509 = x509lib();
  const keys = await keyPair();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${name}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + CA_VALIDITY_DAYS * DAY_MS),
    keys: keys as never,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as never),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey) };
}

/** An IPv4 or IPv6 literal goes into an IP SAN, anything else into a DNS SAN. */
const isIp = (h: string) => /^\d{1,3}(\.\d{1,3}){3}$/.test(h) || h.includes(':');

/**
 * A certificate for peer `id` (a node id, or `cli-…`) signed by the CA: its identity is the SAN URI
 * swarmshare://node/<id>; usable as TLS server and client, since every peer is both.
 * With `hosts`, a server's certificate instead (nats-server, the tracker's gRPC port): it also names
 * those DNS names / IPs, which clients check, and may serve only (serverAuth), so a stolen one
 * cannot log in anywhere as a client.
 */
export async function issuePeerCertificate(ca: PemPair, id: string, validityDays = PEER_CERT_VALIDITY_DAYS, hosts: string[] = []): Promise<PemPair> {
  const x509 = x509lib();
  const caCert = new x509.X509Certificate(ca.certPem);
  const der = createPrivateKey(ca.keyPem).export({ type: 'pkcs8', format: 'der' });
  const caKey = await webcrypto.subtle.importKey('pkcs8', der, ALG, false, ['sign']);
  const keys = await keyPair();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${id}`,
    issuer: caCert.subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + validityDays * DAY_MS),
    publicKey: keys.publicKey as never,
    signingKey: caKey as never,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(hosts.length ? [x509.ExtendedKeyUsage.serverAuth] : [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: peerIdentityUri(id) }, ...hosts.map((h) => ({ type: isIp(h) ? ('ip' as const) : ('dns' as const), value: h }))]),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey) };
}

/** Keys are secrets: owner-only, also when the file already existed with wider permissions. */
function writeSecret(path: string, pem: string): void {
  writeFileSync(path, pem, { mode: 0o600 });
  chmodSync(path, 0o600);
}

// Calls for one directory run one after another: two at once would each make a CA.
const pkiQueues = new Map<string, Promise<unknown>>();

/**
 * The swarm's peer PKI in `dir`: ca.pem/ca.key (created once, kept across restarts) and
 * <id>.pem/<id>.key for every id asked for (issued when missing). Returns each id's paths.
 * `serverHosts[id]` makes id's certificate a server's, for those host names (issuePeerCertificate).
 */
export function ensurePeerPki(dir: string, ids: string[], serverHosts: Record<string, string[]> = {}): Promise<Record<string, PeerTlsPaths>> {
  const run = (pkiQueues.get(dir) ?? Promise.resolve()).catch(() => undefined).then(() => ensurePeerPkiNow(dir, ids, serverHosts));
  pkiQueues.set(dir, run);
  return run;
}

async function ensurePeerPkiNow(dir: string, ids: string[], serverHosts: Record<string, string[]>): Promise<Record<string, PeerTlsPaths>> {
  // Ids become file names and HELLO ids: only what HELLO accepts (no '/', no '..').
  for (const id of ids) {
    const r = NodeIdSchema.safeParse(id);
    if (!r.success) throw new SwarmError('BAD_REQUEST', `cannot issue a peer certificate to "${id.slice(0, 80)}": ${r.error.issues[0].message}`);
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caPath = join(dir, 'ca.pem');
  const caKeyPath = join(dir, 'ca.key');
  let ca: PemPair;
  if (existsSync(caPath) && existsSync(caKeyPath)) ca = { certPem: readFileSync(caPath, 'utf8'), keyPem: readFileSync(caKeyPath, 'utf8') };
  else {
    ca = await createPeerCa();
    writeSecret(caKeyPath, ca.keyPem);
    writeFileSync(caPath, ca.certPem);
  }
  const out: Record<string, PeerTlsPaths> = {};
  for (const id of ids) {
    const paths = { ca: caPath, cert: join(dir, `${id}.pem`), key: join(dir, `${id}.key`) };
    if (!existsSync(paths.cert) || !existsSync(paths.key)) {
      const p = await issuePeerCertificate(ca, id, PEER_CERT_VALIDITY_DAYS, serverHosts[id]);
      writeSecret(paths.key, p.keyPem);
      writeFileSync(paths.cert, p.certPem);
    }
    out[id] = paths;
  }
  return out;
}
