import { randomBytes } from 'node:crypto';
import type { Server } from 'node:tls';
import { testPeerTls, tlsPeerServer } from '../../../test/support/peer-tls';
import type { NatsConnection } from 'nats';
import {
  DISCOVERY_FEATURE,
  GatewayInfoSchema,
  MAX_QUERY_HOPS,
  type NatsRpc,
  PeerConnection,
  PeerRequestError,
  type QueryBody,
  type QueryHitBody,
  connectPeer,
  gatewaySubjects,
} from '@swarmshare/common';
import { type Node, natsRpc, startNode, uniqueId, waitForBuilds } from './cluster';
import { makeFile } from '../../../libs/common/test/memory-handler';
import { freePorts, seed } from './overlay-helpers';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const qid = () => randomBytes(16).toString('hex');

/** A peer of ours in the gateway's overlay: it records the queries the gateway forwards to it. */
async function neighbour(g: Node, nodeId: string, listen: string): Promise<{ conn: PeerConnection; got: QueryBody[] }> {
  const got: QueryBody[] = [];
  const conn = await connectPeer(g.address, {
    nodeId,
    listen,
    tls: await testPeerTls(nodeId),
    features: [DISCOVERY_FEATURE, 'overlay'],
    discovery: { neighbours: () => [], onQuery: (q) => void got.push(q), onQueryHit: async () => undefined },
  });
  return { conn, got };
}

/** A query origin: counts connect-backs and the hits they carry; answers OK (wanted). */
async function origin(nodeId: string, wants = true): Promise<{ server: Server; address: string; connections: number; hits: QueryHitBody[]; close(): Promise<void> }> {
  const o = { connections: 0, hits: [] as QueryHitBody[] };
  const conns: PeerConnection[] = [];
  const server = tlsPeerServer(await testPeerTls(nodeId), (s) => {
    o.connections++;
    conns.push(new PeerConnection(s, {
      nodeId,
      listen: null,
      features: [DISCOVERY_FEATURE],
      discovery: {
        neighbours: () => [],
        onQuery: () => undefined,
        onQueryHit: async (h) => {
          o.hits.push(h);
          if (!wants) throw new PeerRequestError('NOT_NEEDED', 'complete already');
        },
      },
    }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = `127.0.0.1:${(server.address() as { port: number }).port}`;
  return Object.assign(o, {
    server,
    address,
    close: async () => {
      for (const c of conns) c.close();
      await new Promise((r) => server.close(r));
    },
  });
}

/**
 * Abuse of the flood query against a real gateway process: each limit holds, the gateway keeps
 * serving, and the sending connection is not dropped (these are policy drops, not protocol errors).
 */
describe('discovery: flood query abuse limits', () => {
  let rpc: NatsRpc;
  let nc: NatsConnection;
  let g: Node;
  const held = makeFile(256 * 1024, 64 * 1024, 'held.bin');
  const notHeld = makeFile(128 * 1024, 64 * 1024, 'absent.bin');
  let r1: Awaited<ReturnType<typeof neighbour>>;
  let r2: Awaited<ReturnType<typeof neighbour>>;

  beforeAll(async () => {
    await waitForBuilds();
    ({ rpc, nc } = await natsRpc());
    g = await startNode(uniqueId('abuse'), { MIN_NEIGHBOURS: '0', QUERY_RATE_PER_ORIGIN: '5', QUERY_DEDUPE_SIZE: '16', LOOKUP_TIMEOUT_MS: '1000' });
    await seed(g, held);
    const [p1, p2] = await freePorts(2);
    r1 = await neighbour(g, 'r1', `127.0.0.1:${p1}`);
    r2 = await neighbour(g, 'r2', `127.0.0.1:${p2}`);
    // Both are adopted as neighbours (the gateway lists them).
    for (let i = 0; i < 50; i++) {
      const info = await rpc.request(gatewaySubjects(g.id).info, {}, GatewayInfoSchema);
      if ((info.neighbours ?? []).length === 2) break;
      await sleep(100);
    }
  });

  afterAll(async () => {
    r1?.conn.close();
    r2?.conn.close();
    await g?.stop();
    await nc?.close();
  });

  async function alive(): Promise<void> {
    const info = await rpc.request(gatewaySubjects(g.id).info, {}, GatewayInfoSchema);
    expect(info.neighbours?.map((n) => n.nodeId).sort()).toEqual(['r1', 'r2']);
    expect(r1.conn.state).toBe('open');
  }

  const query = (o: Partial<QueryBody> & { fileId: string }): QueryBody => ({ queryId: qid(), origin: { nodeId: 'origin-x', address: '127.0.0.1:9' }, hops: 3, ...o });

  it('a query within the hop budget is forwarded with one hop less; an oversized budget is dropped', async () => {
    const ok = query({ fileId: notHeld.manifest.fileId, hops: MAX_QUERY_HOPS, origin: { nodeId: 'o-hops', address: '127.0.0.1:10' } });
    r1.conn.query(ok);
    const big = query({ fileId: notHeld.manifest.fileId, hops: 255, origin: { nodeId: 'o-hops', address: '127.0.0.1:11' } });
    r1.conn.query(big);
    await sleep(500);
    expect(r2.got.filter((q) => q.queryId === ok.queryId).map((q) => q.hops)).toEqual([MAX_QUERY_HOPS - 1]);
    expect(r2.got.filter((q) => q.queryId === big.queryId)).toEqual([]);
    // Not sent back to the neighbour it came from.
    expect(r1.got.filter((q) => q.queryId === ok.queryId)).toEqual([]);
    await alive();
  });

  it('a replayed query id is dropped: forwarded once, and the holder connects back once', async () => {
    const o = await origin('o-replay');
    try {
      const q = query({ fileId: held.manifest.fileId, origin: { nodeId: 'o-replay', address: o.address } });
      for (let i = 0; i < 5; i++) r1.conn.query(q);
      r2.conn.query(q); // the same id round a cycle, from another neighbour
      await sleep(800);
      expect(o.connections).toBe(1);
      expect(o.hits).toHaveLength(1);
      expect(o.hits[0]).toMatchObject({ queryId: q.queryId, fileId: held.manifest.fileId, chunkCount: 4 });
      // The origin said OK (still needs chunks), so the holder forwarded, once.
      expect(r2.got.filter((x) => x.queryId === q.queryId)).toHaveLength(1);
      await alive();
    } finally {
      await o.close();
    }
  });

  it('a holder told the origin needs nothing more does not forward the query', async () => {
    const o = await origin('o-done', false);
    try {
      const q = query({ fileId: held.manifest.fileId, origin: { nodeId: 'o-done', address: o.address } });
      r1.conn.query(q);
      await sleep(600);
      expect(o.hits).toHaveLength(1);
      expect(r2.got.filter((x) => x.queryId === q.queryId)).toEqual([]);
    } finally {
      await o.close();
    }
  });

  it('a query flood from one origin is held to its rate; another origin still gets through', async () => {
    const flood = { nodeId: 'o-flood', address: '127.0.0.1:12' };
    const before = r2.got.length;
    for (let i = 0; i < 300; i++) r1.conn.query(query({ fileId: notHeld.manifest.fileId, origin: flood }));
    await sleep(600);
    const forwarded = r2.got.slice(before).filter((q) => q.origin.nodeId === 'o-flood').length;
    // Burst of 5, plus 5/s for the moments the flood took: nowhere near 300.
    expect(forwarded).toBeGreaterThanOrEqual(5);
    expect(forwarded).toBeLessThanOrEqual(10);
    const other = query({ fileId: notHeld.manifest.fileId, origin: { nodeId: 'o-other', address: '127.0.0.1:13' } });
    r1.conn.query(other);
    await sleep(300);
    expect(r2.got.some((q) => q.queryId === other.queryId)).toBe(true);
    await alive();
  });

  it('a connect-back address where nobody listens costs one bounded attempt, and the query goes no further', async () => {
    const [deadPort] = await freePorts(1);
    const t0 = Date.now();
    const qs = Array.from({ length: 3 }, (_, i) => query({ fileId: held.manifest.fileId, origin: { nodeId: `o-dead-${i}`, address: `127.0.0.1:${deadPort}` } }));
    for (const q of qs) r1.conn.query(q);
    await sleep(1500);
    // A holder that cannot reach the origin does not forward: nothing reaches r2.
    for (const q of qs) expect(r2.got.filter((x) => x.queryId === q.queryId)).toEqual([]);
    // And it still answers a genuine origin at once.
    const o = await origin('o-after');
    try {
      const q = query({ fileId: held.manifest.fileId, origin: { nodeId: 'o-after', address: o.address } });
      r1.conn.query(q);
      for (let i = 0; i < 30 && o.hits.length === 0; i++) await sleep(100);
      expect(o.hits).toHaveLength(1);
    } finally {
      await o.close();
    }
    expect(Date.now() - t0).toBeLessThan(10_000);
    await alive();
  });

  it('forged origins do not get round the rate: the sending neighbour is capped at 10x the per-origin rate', async () => {
    await sleep(1100); // let r1's bucket refill after the earlier tests
    const before = r2.got.length;
    for (let i = 0; i < 300; i++) r1.conn.query(query({ fileId: notHeld.manifest.fileId, origin: { nodeId: `o-forged-${i}`, address: `127.0.0.${1 + (i % 200)}:${1000 + i}` } }));
    await sleep(600);
    const forwarded = r2.got.length - before;
    // Burst of 50 (10 x QUERY_RATE_PER_ORIGIN=5), plus 50/s while the 300 arrive: nowhere near 300.
    expect(forwarded).toBeGreaterThanOrEqual(50);
    expect(forwarded).toBeLessThanOrEqual(90);
    await sleep(1100); // refill for the next test
    await alive();
  });

  it('the dedupe cache is bounded: past its size the oldest ids are forgotten', async () => {
    // QUERY_DEDUPE_SIZE=16: 40 fresh ids (from distinct origins, under the rate) push the first out.
    const first = query({ fileId: notHeld.manifest.fileId, origin: { nodeId: 'o-d0', address: '127.0.0.1:20' } });
    r1.conn.query(first);
    for (let i = 1; i <= 40; i++) r1.conn.query(query({ fileId: notHeld.manifest.fileId, origin: { nodeId: `o-d${i}`, address: `127.0.0.1:${20 + i}` } }));
    await sleep(400);
    r1.conn.query(first);
    await sleep(400);
    // Forwarded twice: the cache (16 ids) no longer remembered it; the hop budget still bounds it.
    expect(r2.got.filter((q) => q.queryId === first.queryId)).toHaveLength(2);
    await alive();
  });
});
