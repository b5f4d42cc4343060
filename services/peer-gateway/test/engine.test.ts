import { createHash } from 'node:crypto';
import type { Server } from 'node:tls';
import { testPeerTls, tlsPeerServer } from '../../../test/support/peer-tls';
import type { NatsConnection } from 'nats';
import { z } from 'zod';
import { connectPeer, HaveReplySchema, type NatsRpc, PeerConnection, type ReadRegion, TrackerSubjects, storeSubjects, TRY_PEERS_FEATURE } from '@swarmshare/common';
import { type RunningService, startService } from '../../../test/support/services';
import { type Node, fetch, natsRpc, readBack, share, startNode, startTracker, status, uniqueId, waitDownload, waitForBuilds, waitSeeder } from './cluster';
import { MemoryHandler, makeFile } from '../../../libs/common/test/memory-handler';

/** Counts how often each chunk was served: a chunk served twice was fetched again. */
class CountingHandler extends MemoryHandler {
  readonly served = new Map<number, number>();
  override async openRead(fileId: string, index: number): Promise<ReadRegion> {
    const r = await super.openRead(fileId, index);
    this.served.set(index, (this.served.get(index) ?? 0) + 1);
    return r;
  }
}

/**
 * The engine with real processes (chunk-store + peer-gateway per node, tracker, NATS, Redis):
 * resume after kill -9, many fetchers at once, and super-seeding.
 */
describe('transfer engine: real processes', () => {
  let rpc: NatsRpc;
  let nc: NatsConnection;
  let tracker: RunningService;
  const nodes: Node[] = [];

  beforeAll(async () => {
    await waitForBuilds();
    ({ rpc, nc } = await natsRpc());
    tracker = await startTracker();
  });

  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await tracker?.stop();
    await nc?.close();
  });

  it('kill -9 mid-download and restart: resumes from the on-disk bitmap, refetching at most the in-flight chunks', async () => {
    const depth = 8;
    const f = makeFile(160 * 64 * 1024, 64 * 1024, 'resume.bin');
    // The holder lives in this process so every chunk it serves is counted.
    const holderId = uniqueId('seed');
    const handler = new CountingHandler();
    handler.add(f.manifest, f.data);
    handler.leaseDelayMs = 10; // slow enough to kill the fetcher half way
    const server: Server = tlsPeerServer(await testPeerTls(holderId), (s) => new PeerConnection(s, { nodeId: holderId, listen: null, handler }));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = `127.0.0.1:${(server.address() as { port: number }).port}`;
    const m = f.manifest;
    await rpc.request(
      TrackerSubjects.registerFile,
      { fileId: m.fileId, name: m.name, size: m.size, chunkSize: m.chunkSize, chunkCount: m.hashes.length, hash: createHash('sha256').update(f.data).digest('hex'), nodeId: holderId },
      z.unknown(),
    );
    await rpc.request(TrackerSubjects.announce, { nodeId: holderId, address, capacity: 1e9, free: 1e9, complete: [f.manifest.fileId], partial: [] }, z.unknown());
    await waitSeeder(rpc, f.manifest.fileId, holderId);

    const b = await startNode(uniqueId('resume'), { PIPELINE_DEPTH: String(depth) });
    nodes.push(b);
    await fetch(rpc, b, f.manifest.fileId);
    const half = await waitDownload(rpc, b, f.manifest.fileId, { until: (s) => s.chunksDone >= 60 });
    await Promise.all([b.gateway.stop('SIGKILL'), b.store.stop('SIGKILL')]);
    expect(half.state).toBe('running');

    // Same NODE_ID and DATA_DIR, new processes.
    const env = { NODE_ID: b.id, DATA_DIR: b.dataDir, NATS_URL: process.env.NATS_URL!, REDIS_URL: process.env.REDIS_URL!, LOG_LEVEL: 'info', LEASE_TTL_MS: '60000' };
    (b as { store: RunningService }).store = await startService('chunk-store', env);
    await b.startGateway();
    const have = await rpc.request(storeSubjects(b.id).have, { fileId: f.manifest.fileId }, HaveReplySchema);
    // Every chunk reported done before the kill was durable.
    expect(have.present).toBeGreaterThanOrEqual(half.chunksDone);
    expect(have.present).toBeLessThan(160);

    await fetch(rpc, b, f.manifest.fileId);
    const done = await waitDownload(rpc, b, f.manifest.fileId);
    server.close();
    expect(done.state).toBe('complete');
    // After the restart only what was missing was fetched ...
    expect(done.fromPeers[holderId]).toBe((160 - have.present) * 64 * 1024);
    // ... and across both lives, chunks served twice are at most those in flight at the kill.
    const again = [...handler.served.values()].reduce((n, c) => n + Math.max(0, c - 1), 0);
    expect(again).toBeLessThanOrEqual(depth);
    expect((await readBack(b, f.manifest)).equals(f.data)).toBe(true);
  });

  it('8 fetchers at once all end byte-identical, trading chunks among themselves', async () => {
    const f = makeFile(4 * 1024 * 1024, 64 * 1024, 'swarm8.bin');
    const seed = await startNode(uniqueId('seed'));
    nodes.push(seed);
    await share(rpc, seed, f);
    await waitSeeder(rpc, f.manifest.fileId, seed.id);
    const fetchers = await Promise.all(Array.from({ length: 8 }, () => startNode(uniqueId('f'))));
    nodes.push(...fetchers);
    await Promise.all(fetchers.map((n) => fetch(rpc, n, f.manifest.fileId)));
    const results = await Promise.all(fetchers.map((n) => waitDownload(rpc, n, f.manifest.fileId, { timeoutMs: 90_000 })));
    for (const r of results) expect(r.state).toBe('complete');
    for (const n of fetchers) expect((await readBack(n, f.manifest)).equals(f.data)).toBe(true);
    // Every fetcher's bytes are accounted to some holder, and the statuses agree with the file.
    for (const r of results) expect(Object.values(r.fromPeers).reduce((x, y) => x + y, 0)).toBeLessThanOrEqual(f.data.length);
    const fromSeed = results.reduce((n, r) => n + (r.fromPeers[seed.id] ?? 0), 0);
    // Informational (timing-dependent, so not asserted): how much the origin sent.
    process.stdout.write(`8 fetchers: origin egress ratio ${(fromSeed / f.data.length).toFixed(2)}\n`);
    expect((await status(rpc, fetchers[0], f.manifest.fileId)).chunksDone).toBe(64);
  });

  /** A node that holds the whole file `f` (shared into it), with extra gateway settings. */
  async function seedOf(f: ReturnType<typeof makeFile>, env: Record<string, string>): Promise<Node> {
    const seed = await startNode(uniqueId('seed'), env);
    nodes.push(seed);
    await share(rpc, seed, f);
    await waitSeeder(rpc, f.manifest.fileId, seed.id);
    return seed;
  }

  async function newNode(): Promise<Node> {
    const b = await startNode(uniqueId('b'));
    nodes.push(b);
    return b;
  }

  /** Fetch `f` on node `b` until complete; returns its status and its download timing log line. */
  async function fetchOn(b: Node, f: ReturnType<typeof makeFile>) {
    await fetch(rpc, b, f.manifest.fileId);
    const done = await waitDownload(rpc, b, f.manifest.fileId, { timeoutMs: 60_000 });
    expect(done.state).toBe('complete');
    expect((await readBack(b, f.manifest)).equals(f.data)).toBe(true);
    return { done, timing: b.gateway.logs.find((l) => l.msg === 'download timing (mean per chunk)') };
  }

  it('super-seeding: a fetcher refused every chunk (its first receiver does not share) completes once the window is over', async () => {
    const f = makeFile(16 * 64 * 1024, 64 * 1024, 'superseed.bin');
    // A long window, so the fetch surely starts within it however loaded the machine is.
    const seed = await seedOf(f, { SUPER_SEED_MS: '10000' });
    const b = await newNode();
    // The first receiver takes every chunk and disappears with them.
    const leechId = uniqueId('leech');
    const leech = await connectPeer(seed.address, { nodeId: leechId, listen: null, features: [TRY_PEERS_FEATURE], tls: await testPeerTls(leechId) });
    for (let i = 0; i < 16; i++) await leech.requestChunk(f.manifest.fileId, i, Buffer.alloc(64 * 1024));
    leech.close();

    const { done, timing } = await fetchOn(b, f);
    expect(done.fromPeers[seed.id]).toBe(f.data.length);
    // It was refused (the seed had just sent those chunks to the leech) ...
    expect(Number(timing?.tryPeersRefusals)).toBeGreaterThan(0);
    // ... and took the refusals neither for missing chunks nor for a stall: the seed was never dropped.
    expect(b.gateway.logs.some((l) => l.msg === 'dropping holder')).toBe(false);
  });

  it('super-seeding: a single fetcher is never refused', async () => {
    const f = makeFile(32 * 64 * 1024, 64 * 1024, 'alone.bin');
    await seedOf(f, { SUPER_SEED_MS: '60000' });
    const { timing } = await fetchOn(await newNode(), f);
    expect(timing?.tryPeersRefusals).toBe(0);
  });
});
