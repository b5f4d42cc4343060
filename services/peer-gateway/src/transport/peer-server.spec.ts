import { connect as tlsConnect } from 'node:tls';
import {
  MsgType,
  PeerClient,
  type PeerTlsMaterial,
  connectPeer,
  createPeerCa,
  identityOfCertificate,
  issuePeerCertificate,
  peerTlsClientOptions,
} from '@swarmshare/common';
import { testPeerTls } from '../../../../test/support/peer-tls';
import { MemoryHandler, makeFile } from '../../../../libs/common/test/memory-handler';
import { RawPeer } from '../../../../libs/common/test/raw-peer';
import { PeerServer } from './peer-server';

describe('PeerServer', () => {
  it('listens on an OS-chosen port and advertises 127.0.0.1:<port> unless told otherwise', async () => {
    const s = new PeerServer({ nodeId: 'n1', host: '127.0.0.1', port: 0, maxConnections: 4, handler: new MemoryHandler() });
    await s.listen();
    expect(s.port).toBeGreaterThan(0);
    expect(s.address).toBe(`127.0.0.1:${s.port}`);
    s.stopAccepting();
    const t = new PeerServer({ nodeId: 'n1', host: '127.0.0.1', port: 0, advertise: 'peer.example:7881', maxConnections: 4, handler: new MemoryHandler() });
    await t.listen();
    expect(t.address).toBe('peer.example:7881');
    t.stopAccepting();
  });

  it('serves a CLI client (cli- id, no listen address): push a file in, read it back', async () => {
    const h = new MemoryHandler();
    const s = new PeerServer({ nodeId: 'n1', host: '127.0.0.1', port: 0, maxConnections: 4, handler: h });
    await s.listen();
    const f = makeFile(3 * 64 * 1024 + 5);
    const c = await PeerClient.connect(s.address);
    expect(c.remote).toMatchObject({ nodeId: 'n1', listen: s.address });
    expect(s.connections).toBe(1);
    await c.offerAndStore(f.manifest, (i) => f.chunk(i), { concurrency: 2 });
    expect((await c.manifest(f.manifest.fileId)).fileId).toBe(f.manifest.fileId);
    const parts = [];
    for (let i = 0; i < 4; i++) parts.push(await c.requestChunk(f.manifest, i));
    expect(Buffer.concat(parts).equals(f.data)).toBe(true);
    await c.close();
    s.stopAccepting();
    s.closeAll('test over');
  });

  it('plaintext (PEER_TLS=off): past MAX_CONNECTIONS_PER_ADDRESS a connection gets a fatal ERROR and no HELLO, and is counted by IP', async () => {
    const s = new PeerServer({ nodeId: 'n1', host: '127.0.0.1', port: 0, maxConnections: 10, maxConnectionsPerAddress: 2, handler: new MemoryHandler() });
    await s.listen();
    const two = await Promise.all([RawPeer.connect(s.port), RawPeer.connect(s.port)]);
    await Promise.all(two.map((r) => r.frame((f) => f.type === MsgType.HELLO)));
    expect(s.connectionsFrom('127.0.0.1')).toBe(2);
    const third = await RawPeer.connect(s.port);
    third.hello();
    expect(await third.fatalError()).toMatchObject({ code: 'UNAVAILABLE', message: 'too many connections from 127.0.0.1 (MAX_CONNECTIONS_PER_ADDRESS=2)' });
    await third.waitClosed();
    // Not one frame but the refusal: it was never served, its HELLO never parsed.
    expect(third.frames).toHaveLength(1);
    expect(s.connections).toBe(2);
    // A socket that leaves frees its place.
    two[0].destroy();
    for (let i = 0; i < 50 && s.connectionsFrom('127.0.0.1') > 1; i++) await new Promise((r) => setTimeout(r, 20));
    const next = await RawPeer.connect(s.port);
    await next.frame((f) => f.type === MsgType.HELLO);
    next.destroy();
    two[1].destroy();
    s.stopAccepting();
    s.closeAll('test over');
  });

  it('refuses connections past MAX_CONNECTIONS with a reason, and closes everything on shutdown', async () => {
    const s = new PeerServer({ nodeId: 'n1', host: '127.0.0.1', port: 0, maxConnections: 1, handler: new MemoryHandler() });
    await s.listen();
    const first = await RawPeer.connect(s.port);
    first.hello();
    await first.frame((f) => f.type === MsgType.HELLO);
    const second = await RawPeer.connect(s.port);
    expect(await second.fatalError()).toMatchObject({ code: 'UNAVAILABLE', message: expect.stringMatching(/too many connections/) });
    await second.waitClosed();
    s.stopAccepting();
    s.closeAll('gateway shutting down');
    expect(await first.fatalError()).toMatchObject({ code: 'UNAVAILABLE', message: 'gateway shutting down' });
    await first.waitClosed();
  });

  describe('with peer mutual TLS', () => {
    let nodeTls: PeerTlsMaterial;
    let clientTls: PeerTlsMaterial;
    let h: MemoryHandler;
    let s: PeerServer;
    const f = makeFile(64 * 1024 + 3);

    beforeAll(async () => {
      [nodeTls, clientTls] = await Promise.all([testPeerTls('n1'), testPeerTls('cli-ok')]);
    });
    beforeEach(async () => {
      h = new MemoryHandler();
      s = new PeerServer({ nodeId: 'n1', host: '127.0.0.1', port: 0, maxConnections: 8, handler: h, tls: nodeTls, handshakeTimeoutMs: 2000 });
      await s.listen();
    });
    afterEach(() => {
      s.stopAccepting();
      s.closeAll('test over');
    });

    /** Nothing got past the TLS handshake: no connection, nothing stored. */
    function expectUntouched(): void {
      expect(s.connections).toBe(0);
      expect(h.files.has(f.manifest.fileId)).toBe(false);
    }

    it('a client with a certificate of the swarm CA is served, under the id its certificate names', async () => {
      expect(identityOfCertificate(clientTls.cert)).toBe('cli-ok');
      const c = await PeerClient.connect(s.address, { tls: clientTls });
      expect(c.remote.nodeId).toBe('n1');
      expect(c.connection.authenticated).toBe(true);
      await c.offerAndStore(f.manifest, (i) => f.chunk(i));
      expect((await c.requestChunk(f.manifest, 1)).equals(f.chunk(1))).toBe(true);
      await c.close();
    });

    it('a HELLO naming another node than the certificate is refused (AUTH)', async () => {
      const raw = await RawPeer.connect(s.port, '127.0.0.1', clientTls);
      raw.hello('cli-someone-else');
      expect(await raw.fatalError()).toMatchObject({ code: 'AUTH', message: expect.stringMatching(/issued to cli-ok/) });
      await raw.waitClosed();
      raw.send(MsgType.STORE_OFFER, { id: 1, manifest: f.manifest });
      expectUntouched();
    });

    it('a client without a certificate is refused at the handshake', async () => {
      const noCert = { ca: clientTls.ca };
      await expect(
        new Promise((resolve, reject) => {
          const sock = tlsConnect({ host: '127.0.0.1', port: s.port, ...noCert, checkServerIdentity: () => undefined });
          sock.on('data', resolve);
          sock.on('error', reject);
          sock.on('close', () => reject(new Error('closed')));
        }),
      ).rejects.toThrow();
      expectUntouched();
    });

    it('a client certified by another CA is refused, and so is a server of another CA', async () => {
      const otherCa = await createPeerCa('another swarm');
      const stranger = await issuePeerCertificate(otherCa, 'cli-ok');
      const strangerTls = { ca: Buffer.from(otherCa.certPem), cert: Buffer.from(stranger.certPem), key: Buffer.from(stranger.keyPem), identity: 'cli-ok' };
      // The client trusts the other CA only: it refuses our server, and our server refuses it.
      await expect(PeerClient.connect(s.address, { tls: strangerTls })).rejects.toThrow(/certificate|closed/);
      // Trusting our CA but presenting the other CA's certificate: refused by the server.
      await expect(PeerClient.connect(s.address, { tls: { ...strangerTls, ca: clientTls.ca } })).rejects.toThrow();
      expectUntouched();
    });

    it('plaintext is refused: not one frame is parsed', async () => {
      const raw = await RawPeer.connect(s.port);
      raw.hello();
      raw.send(MsgType.STORE_OFFER, { id: 1, manifest: f.manifest });
      await raw.waitClosed();
      expect(raw.frames.filter((x) => x.type === MsgType.HELLO)).toEqual([]);
      expectUntouched();
    });

    it('a dialler refuses a server whose certificate names another node than the one it dials', async () => {
      await expect(connectPeer(s.address, { nodeId: 'cli-ok', listen: null, tls: clientTls, expectNodeId: 'n2' })).rejects.toThrow(/expected node n2, but its certificate is issued to n1/);
      const ok = await connectPeer(s.address, { nodeId: 'cli-ok', listen: null, tls: clientTls, expectNodeId: 'n1' });
      expect(ok.authenticated).toBe(true);
      ok.close();
    });

    it('peer certificates are usable by both ends and name their identity as a SAN URI', () => {
      expect(identityOfCertificate(nodeTls.cert)).toBe('n1');
      expect(peerTlsClientOptions(nodeTls).rejectUnauthorized).toBe(true);
    });

    it('a dialler parses its certificate and key once: every dial with the same material shares one context', async () => {
      const ctx = peerTlsClientOptions(clientTls).secureContext;
      expect(ctx).toBeDefined();
      expect(peerTlsClientOptions(clientTls).secureContext).toBe(ctx);
      expect(peerTlsClientOptions({ ...clientTls }).secureContext).not.toBe(ctx);
      // Two dials on the shared context still each prove who they are.
      for (let i = 0; i < 2; i++) {
        const c = await connectPeer(s.address, { nodeId: 'cli-ok', listen: null, tls: clientTls, expectNodeId: 'n1' });
        expect(c.authenticated).toBe(true);
        c.close();
      }
    });
  });
});
