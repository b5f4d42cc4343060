import { MsgType, PeerClient } from '@swarmshare/common';
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
});
