import { type AddressInfo, type Server, createServer } from 'node:net';
import { DISCOVERY_FEATURE, type DiscoveryHooks, PeerConnection, PeerRequestError, type QueryBody, connectPeer } from '@swarmshare/common';

const FILE = 'ab'.repeat(32);

/** Two real PeerConnections over loopback; the server side gets `hooks` and `features`. */
async function pair(serverSide: { hooks?: DiscoveryHooks; features?: string[] }, clientFeatures = [DISCOVERY_FEATURE]) {
  let server!: PeerConnection;
  const srv: Server = createServer((s) => (server = new PeerConnection(s, { nodeId: 'srv', listen: '127.0.0.1:1', features: serverSide.features, discovery: serverSide.hooks })));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const client = await connectPeer(`127.0.0.1:${(srv.address() as AddressInfo).port}`, { nodeId: 'cli-x', listen: null, features: clientFeatures });
  await server.ready;
  return {
    client,
    server,
    close: async () => {
      client.close();
      server.close();
      await new Promise((r) => srv.close(r));
    },
  };
}

describe('discovery messages on a PeerConnection', () => {
  it('NEIGHBOURS_REQUEST is answered with the hooks list, without the asker', async () => {
    const hooks: DiscoveryHooks = {
      neighbours: () => [
        { nodeId: 'node-b', address: '10.0.0.2:7881' },
        { nodeId: 'node-c', address: '10.0.0.3:7881' },
      ],
      onQuery: () => undefined,
      onQueryHit: async () => undefined,
    };
    const p = await pair({ hooks, features: [DISCOVERY_FEATURE] });
    try {
      expect(p.client.speaksDiscovery).toBe(true);
      await expect(p.client.neighbours()).resolves.toEqual(hooks.neighbours(p.server));
    } finally {
      await p.close();
    }
  });

  it('QUERY reaches onQuery; QUERY_HIT resolves on OK and rejects with the code the hook threw', async () => {
    const got: QueryBody[] = [];
    let want = true;
    const hooks: DiscoveryHooks = {
      neighbours: () => [],
      onQuery: (q) => void got.push(q),
      onQueryHit: async () => {
        if (!want) throw new PeerRequestError('NOT_NEEDED', 'query is over');
      },
    };
    const p = await pair({ hooks, features: [DISCOVERY_FEATURE] });
    try {
      const q = { queryId: '0123456789abcdef', fileId: FILE, origin: { nodeId: 'node-a', address: '10.0.0.1:7881' }, hops: 3 };
      p.client.query(q);
      await expect(p.client.queryHit({ queryId: q.queryId, fileId: FILE, chunkCount: 8, bitfield: Buffer.from([0xff]).toString('base64') })).resolves.toBeUndefined();
      expect(got).toEqual([q]);
      want = false;
      await expect(p.client.queryHit({ queryId: q.queryId, fileId: FILE, chunkCount: 8, bitfield: 'gA==' })).rejects.toMatchObject({ code: 'NOT_NEEDED' });
      expect(p.client.state).toBe('open'); // a refusal is not a protocol error
    } finally {
      await p.close();
    }
  });

  it('is never sent to a peer that did not announce the feature', async () => {
    const p = await pair({});
    try {
      expect(p.client.speaksDiscovery).toBe(false);
      expect(() => p.client.neighbours()).toThrow(/did not announce the "discovery" feature/);
      expect(() => p.client.query({ queryId: '0123456789abcdef', fileId: FILE, origin: { nodeId: 'a', address: '1.2.3.4:5' }, hops: 1 })).toThrow(/discovery/);
    } finally {
      await p.close();
    }
  });

  it('a side without hooks answers an empty neighbour list and refuses hits', async () => {
    const p = await pair({ features: [DISCOVERY_FEATURE] });
    try {
      await expect(p.client.neighbours()).resolves.toEqual([]);
      await expect(p.client.queryHit({ queryId: '0123456789abcdef', fileId: FILE, chunkCount: 1, bitfield: 'gA==' })).rejects.toMatchObject({ code: 'NOT_NEEDED' });
    } finally {
      await p.close();
    }
  });
});
