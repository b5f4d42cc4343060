/**
 * The serving side's connection limits, against a running gateway (from dist, its real chunk-store,
 * peer TLS on) and misbehaving peers over real TLS sockets with certificates of the swarm CA:
 * QUERY only on overlay links, the idle timeout after HELLO, the bounded write queue for a peer
 * that never reads, and the per-address connection cap.
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { NatsConnection } from 'nats';
import {
  DISCOVERY_FEATURE,
  GatewayInfoSchema,
  MIN_CHUNK_SIZE,
  type Manifest,
  MsgType,
  type NatsRpc,
  PROTOCOL_VERSION,
  type PeerConnection,
  type PeerTlsMaterial,
  type QueryBody,
  computeFileId,
  connectPeer,
  gatewaySubjects,
  peerTlsClientOptions,
} from '@swarmshare/common';
import { type Node, connectClient, expectStillServes, natsRpc, startNode, uniqueId, waitForBuilds } from '../../services/peer-gateway/test/cluster';
import { freePorts, seed } from '../../services/peer-gateway/test/overlay-helpers';
import { testPeerTls, tlsPeerServer } from '../support/peer-tls';
import { makeFile } from '../../libs/common/test/memory-handler';
import { RawPeer } from '../../libs/common/test/raw-peer';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const IDLE_MS = 1500;
const PER_ADDRESS = 4;
/** The smallest queue allowed: one control frame (1 MiB + 5 bytes). */
const WRITE_QUEUE = 1024 * 1024 + 5;

/** A raw TLS peer, optionally from another loopback address (the per-address cap counts by IP). */
function rawTls(port: number, tls: PeerTlsMaterial, localAddress?: string): Promise<RawPeer> {
  return new Promise((resolve, reject) => {
    // localAddress is a net.connect option tls.connect passes on (its typings omit it).
    const s = tlsConnect({ host: '127.0.0.1', port, ...peerTlsClientOptions(tls), ...({ localAddress } as object) });
    s.once('secureConnect', () => resolve(new RawPeer(s)));
    s.once('error', reject);
  });
}

/** HELLO of a would-be node with the discovery feature (RawPeer.hello announces none). */
function discoveryHello(raw: RawPeer, nodeId: string, listen: string): void {
  raw.send(MsgType.HELLO, { version: PROTOCOL_VERSION, nodeId, listen, features: [DISCOVERY_FEATURE] });
}

describe('serving-side connection limits of a running gateway', () => {
  let node: Node;
  let rpc: NatsRpc;
  let nc: NatsConnection;
  let port: number;
  const held = makeFile(4 * 64 * 1024, 64 * 1024, 'held.bin');

  beforeAll(async () => {
    await waitForBuilds();
    ({ rpc, nc } = await natsRpc());
    node = await startNode(uniqueId('limits'), {
      MIN_NEIGHBOURS: '0',
      PEER_IDLE_TIMEOUT_MS: String(IDLE_MS),
      MAX_CONNECTIONS_PER_ADDRESS: String(PER_ADDRESS),
      PEER_WRITE_QUEUE_BYTES: String(WRITE_QUEUE),
    });
    port = Number(node.address.split(':')[1]);
    await seed(node, held);
  });

  afterAll(async () => {
    await node?.stop();
    await nc?.close();
  });

  /** After each case the gateway is up and serves a well-behaved client. */
  afterEach(() => expectStillServes(node, held, 1));

  const warned = (pred: (l: Record<string, unknown>) => boolean) => node.gateway.logs.filter((l) => l.level === 40 && pred(l as Record<string, unknown>));

  it('a QUERY on a plain (non-overlay) connection is refused, and the node dials nothing (4 connections x 50 QUERYs)', async () => {
    // Where the QUERYs say their origin is: every TCP connection that reaches it is counted.
    let dialled = 0;
    const target = tlsPeerServer(await testPeerTls('o-count'), (s: Socket) => s.destroy());
    target.on('connection', () => dialled++);
    await new Promise<void>((r) => target.listen(0, '0.0.0.0', r));
    const targetPort = (target.address() as { port: number }).port;
    const query = (k: number, i: number): QueryBody => ({
      queryId: randomBytes(16).toString('hex'),
      fileId: held.manifest.fileId,
      // 200 distinct origins (127.0.0.x all reach the counting listener), so no per-origin rate helps.
      origin: { nodeId: `o-${k}-${i}`, address: `127.0.0.${2 + k * 50 + i}:${targetPort}` },
      hops: 3,
    });
    try {
      const raws = await Promise.all([1, 2, 3, 4].map(async (k) => rawTls(port, await testPeerTls(`mallory-${k}`))));
      raws.forEach((raw, k) => {
        discoveryHello(raw, `mallory-${k + 1}`, `127.0.0.1:${1000 + k}`);
        for (let i = 0; i < 50; i++) raw.send(MsgType.QUERY, query(k, i));
      });
      for (const raw of raws) {
        expect(await raw.fatalError()).toMatchObject({ code: 'PROTOCOL', message: expect.stringMatching(/^QUERY is accepted only on overlay links/) });
        await raw.waitClosed();
      }
      await sleep(1000);
      expect(dialled).toBe(0);

      // The same QUERY from an overlay neighbour does make the holder connect back: the count above would have seen it.
      const [listenPort] = await freePorts(1);
      const nbr: PeerConnection = await connectPeer(node.address, {
        nodeId: 'nbr-1',
        listen: `127.0.0.1:${listenPort}`,
        tls: await testPeerTls('nbr-1'),
        features: [DISCOVERY_FEATURE, 'overlay'],
        discovery: { neighbours: () => [], onQuery: () => undefined, onQueryHit: async () => undefined },
      });
      try {
        let neighbours: string[] = [];
        for (let i = 0; i < 50 && neighbours.length === 0; i++) {
          neighbours = (await rpc.request(gatewaySubjects(node.id).info, {}, GatewayInfoSchema)).neighbours?.map((n) => n.nodeId) ?? [];
          if (neighbours.length === 0) await sleep(100);
        }
        expect(neighbours).toEqual(['nbr-1']);
        nbr.query({ ...query(0, 0), origin: { nodeId: 'o-real', address: `127.0.0.1:${targetPort}` } });
        for (let i = 0; i < 50 && dialled === 0; i++) await sleep(100);
        expect(dialled).toBe(1);
        // An overlay link is exempt from the idle timeout: still open well after it.
        await sleep(IDLE_MS + 1000);
        expect(nbr.state).toBe('open');
      } finally {
        nbr.close();
      }
    } finally {
      await new Promise((r) => target.close(r));
    }
  });

  it('a connection idle after HELLO is closed with a fatal TIMEOUT; one that keeps asking is not', async () => {
    const busy = await connectClient(node);
    const idle = await rawTls(port, await testPeerTls('cli-idler'));
    const t0 = Date.now();
    idle.hello('cli-idler');
    const keepAsking = (async () => {
      while (Date.now() - t0 < 2 * IDLE_MS) {
        await busy.have(held.manifest.fileId);
        await sleep(IDLE_MS / 4);
      }
    })();
    expect(await idle.fatalError(3 * IDLE_MS)).toMatchObject({ code: 'TIMEOUT', message: `idle for ${IDLE_MS} ms after HELLO (PEER_IDLE_TIMEOUT_MS): nothing asked, nothing sent` });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(IDLE_MS - 100);
    await idle.waitClosed();
    await keepAsking;
    expect(busy.connection.state).toBe('open');
    await busy.close();
  });

  it('a peer that asks and never reads is dropped once PEER_WRITE_QUEUE_BYTES of answers wait for it', async () => {
    // A manifest of 4000 chunks (about 270 KB of MANIFEST): the node takes the offer, which is all MANIFEST_REQUEST needs.
    const hashes = Array.from({ length: 4000 }, (_, i) => i.toString(16).padStart(64, '0'));
    const size = hashes.length * MIN_CHUNK_SIZE;
    const big: Manifest = { fileId: computeFileId(size, MIN_CHUNK_SIZE, hashes), name: 'big-manifest.bin', size, chunkSize: MIN_CHUNK_SIZE, hashes };
    const c = await connectClient(node);
    await c.connection.offer(big);
    await c.close();

    const raw = await rawTls(port, await testPeerTls('cli-sleepy'));
    raw.hello('cli-sleepy');
    await raw.frame((f) => f.type === MsgType.HELLO);
    raw.socket.pause(); // from here on it reads nothing
    let batches = 0;
    // Ten every 400 ms; an id comes round again after six batches (2.4 s), long answered by then,
    // so the in-flight limit (64) is never reached however slowly the node answers.
    while (!raw.closed && batches < 40) {
      for (let k = 1; k <= 10; k++) raw.send(MsgType.MANIFEST_REQUEST, { id: (batches % 6) * 10 + k, fileId: big.fileId });
      batches++;
      await sleep(400);
    }
    await raw.waitClosed();
    const dropped = warned((l) => l.msg === 'dropping peer connection' && l.remoteNode === 'cli-sleepy');
    expect(dropped).toHaveLength(1);
    const m = /^the peer does not read: (\d+) bytes of control frames are queued for it and (\d+) more would pass the 1048581-byte limit \(PEER_WRITE_QUEUE_BYTES\)$/.exec(String(dropped[0].reason));
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeLessThanOrEqual(WRITE_QUEUE);
    // Dropped for the queue, not for idling, and not by the in-flight limit.
    expect(warned((l) => l.remoteNode === 'cli-sleepy' && /TIMEOUT|PROTOCOL/.test(String(l.code)))).toEqual([]);
    // Some tens of MB asked for in all: the kernel's socket buffers and the queue held what was answered.
    expect(batches).toBeLessThan(40);
  });

  it(`a ${PER_ADDRESS + 1}th connection from one address is refused before TLS or any frame; other addresses are not affected`, async () => {
    const tls = await testPeerTls('cli-crowd');
    const held4 = await Promise.all(Array.from({ length: PER_ADDRESS }, () => rawTls(port, tls, '127.0.0.3')));
    // They stay busy, so the idle timeout leaves them be.
    const keep = setInterval(() => held4.forEach((r, i) => r.send(MsgType.NEIGHBOURS_REQUEST, { id: i })), IDLE_MS / 5);
    try {
      held4.forEach((r) => r.hello('cli-crowd'));
      await Promise.all(held4.map((r) => r.frame((f) => f.type === MsgType.HELLO)));

      // The next one from 127.0.0.3 is dropped on arrival: the TLS handshake never completes.
      const refused = await rawTls(port, tls, '127.0.0.3').then(
        async (r) => {
          // TLS 1.3: a client may count its side done before the server's close arrives; it still gets nothing.
          r.hello('cli-crowd');
          r.send(MsgType.STORE_OFFER, { id: 1, manifest: held.manifest });
          await r.waitClosed();
          return r.frames;
        },
        (e: Error) => e.message,
      );
      if (Array.isArray(refused)) expect(refused).toEqual([]);
      else expect(refused).toMatch(/socket disconnected|ECONNRESET|socket hang up/i);
      expect(warned((l) => /MAX_CONNECTIONS_PER_ADDRESS=4/.test(String(l.msg))).length).toBeGreaterThanOrEqual(1);

      // Another address is served as usual.
      const other = await rawTls(port, tls, '127.0.0.4');
      other.hello('cli-crowd');
      await other.frame((f) => f.type === MsgType.HELLO);
      other.destroy();

      // One of the four leaves: there is room for one more from 127.0.0.3.
      held4[0].destroy();
      await sleep(200);
      const again = await rawTls(port, tls, '127.0.0.3');
      again.hello('cli-crowd');
      await again.frame((f) => f.type === MsgType.HELLO);
      again.destroy();
    } finally {
      clearInterval(keep);
      held4.forEach((r) => r.destroy());
    }
  });
});
