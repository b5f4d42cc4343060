import type { Socket } from 'node:net';
import { connectPeer, MsgType, PeerClosedError } from '@swarmshare/common';
import { listen } from '../../../test/memory-handler';
import { RawPeer } from '../../../test/raw-peer';

const FILE = 'ab'.repeat(32);

/** A peer on a real loopback socket that says HELLO, records what it is sent, and answers only what the test makes it. */
async function silentPeer() {
  const peers: RawPeer[] = [];
  const srv = await listen((s: Socket) => {
    const raw = new RawPeer(s);
    raw.hello('node-silent');
    peers.push(raw);
  });
  return { address: `127.0.0.1:${srv.port}`, peer: () => peers[0], close: () => srv.close() };
}

describe('PeerConnection answer timeout (MANIFEST_REQUEST, HAVE_REQUEST)', () => {
  it.each([
    ['MANIFEST_REQUEST', (c: Awaited<ReturnType<typeof connectPeer>>) => c.manifest(FILE)],
    ['HAVE_REQUEST', (c: Awaited<ReturnType<typeof connectPeer>>) => c.have(FILE)],
  ])('a peer that never answers %s is cut off with TIMEOUT, and every request on it fails', async (request, ask) => {
    const srv = await silentPeer();
    try {
      const conn = await connectPeer(srv.address, { nodeId: 'node-x', listen: null, answerTimeoutMs: 200 });
      const started = performance.now();
      const other = conn.requestChunk(FILE, 0, Buffer.alloc(16));
      const err = await ask(conn).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PeerClosedError);
      expect((err as Error).message).toContain(`TIMEOUT: no answer to ${request} within 200 ms (PEER_ANSWER_TIMEOUT_MS)`);
      expect(performance.now() - started).toBeGreaterThanOrEqual(190);
      await expect(other).rejects.toBeInstanceOf(PeerClosedError);
      // The peer is told why (a fatal ERROR), then the connection closes.
      expect(await srv.peer().fatalError()).toMatchObject({ code: 'TIMEOUT', message: expect.stringContaining(request) });
      await srv.peer().waitClosed();
    } finally {
      await srv.close();
    }
  });

  it('an answer queued behind chunk data still counts: the wait restarts with each PIECE the peer sends', async () => {
    const srv = await silentPeer();
    try {
      const conn = await connectPeer(srv.address, { nodeId: 'node-x', listen: null, answerTimeoutMs: 300 });
      const chunks = [0, 1, 2, 3, 4].map((i) => conn.requestChunk(FILE, i, Buffer.alloc(8)));
      const have = conn.have(FILE);
      const peer = srv.peer();
      await peer.frame((f) => f.type === MsgType.HAVE_REQUEST);
      // One PIECE every 150 ms: the HAVE comes 750 ms after it was asked, well past 300 ms.
      const requests = peer.frames.filter((f) => f.type === MsgType.REQUEST) as Array<{ body: { id: number } }>;
      for (const r of requests) {
        await new Promise((res) => setTimeout(res, 150));
        peer.piece(r.body.id, Buffer.alloc(8, 1));
      }
      peer.send(MsgType.HAVE, { fileId: FILE, chunkCount: 0, bitfield: '' });
      await expect(have).resolves.toMatchObject({ chunkCount: 0 });
      await expect(Promise.all(chunks)).resolves.toEqual([8, 8, 8, 8, 8]);
      expect(conn.state).toBe('open');
      // Silence after that is cut off as before.
      await expect(conn.have(FILE)).rejects.toThrow(/no answer to HAVE_REQUEST within 300 ms/);
    } finally {
      await srv.close();
    }
  });
});
