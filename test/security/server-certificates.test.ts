import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer } from 'node:tls';
import { ensurePeerPki, loadPeerTls, peerTlsServerOptions } from '@swarmshare/common';

/**
 * Server certificates (`swarmshare pki ID --host ID=NAMES`, what `up` gives nats-server and the
 * admin port) name their hosts, and may only serve: presented as a client to a peer port, one is
 * refused, so a stolen nats-server key does not make its holder a peer.
 */
describe('server certificates from the swarm CA', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ss-server-certs-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Connect to a peer-plane TLS listener (node `a`'s certificate) presenting `client`'s certificate; resolves 'accepted' or the error. */
  async function presentTo(client: { ca: string; cert: string; key: string }): Promise<string> {
    const pki = await ensurePeerPki(dir, ['a']);
    const server = createServer(peerTlsServerOptions(loadPeerTls(pki.a), 5000), (s) => s.end('hello'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      return await new Promise<string>((resolve) => {
        const s = connect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', ca: readFileSync(client.ca), cert: readFileSync(client.cert), key: readFileSync(client.key), checkServerIdentity: () => undefined, minVersion: 'TLSv1.3' });
        s.setTimeout(5000, () => resolve('timeout'));
        s.on('data', () => resolve('accepted'));
        s.on('error', (e) => resolve(e.message));
        s.on('close', () => resolve('closed'));
      });
    } finally {
      server.close();
    }
  }

  test('a peer certificate is accepted as a client; a server certificate is refused as one', async () => {
    const pki = await ensurePeerPki(dir, ['cli-x', 'nats-server'], { 'nats-server': ['localhost', '127.0.0.1'] });
    expect(await presentTo(pki['cli-x'])).toBe('accepted');
    expect(await presentTo(pki['nats-server'])).not.toBe('accepted');
  });

  test('a server certificate names its hosts: a client checking the host name accepts those and refuses others', async () => {
    const pki = await ensurePeerPki(dir, ['srv'], { srv: ['localhost', '127.0.0.1'] });
    const server = createServer({ cert: readFileSync(pki.srv.cert), key: readFileSync(pki.srv.key) }, (s) => s.end('hello'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const dial = (host: string, servername?: string) =>
      new Promise<string>((resolve) => {
        const s = connect({ port, host, ca: readFileSync(pki.srv.ca), ...(servername ? { servername } : {}) });
        s.on('data', () => resolve('accepted'));
        s.on('error', (e) => resolve((e as NodeJS.ErrnoException).code ?? e.message));
      });
    try {
      expect(await dial('127.0.0.1')).toBe('accepted');
      expect(await dial('127.0.0.1', 'localhost')).toBe('accepted');
      expect(await dial('127.0.0.1', 'elsewhere.example')).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    } finally {
      server.close();
    }
  });
});
