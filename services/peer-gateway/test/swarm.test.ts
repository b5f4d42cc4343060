import type { Server } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { testPeerTls } from '../../../test/support/peer-tls';
import {
  type DownloadProgressEvent,
  DownloadProgressEventSchema,
  EventSubjects,
  type NatsRpc,
  TrackerSubjects,
  FileRecordSchema,
} from '@swarmshare/common';
import type { NatsConnection } from 'nats';
import { z } from 'zod';
import type { RunningService } from '../../../test/support/services';
import { PeerConnection, peerTlsServerOptions } from '@swarmshare/common';
import { type Node, fetch, natsRpc, readBack, share, startNode, startTracker, status, uniqueId, waitDownload, waitForBuilds, waitSeeder } from './cluster';
import { CorruptingHandler, makeFile } from '../../../libs/common/test/memory-handler';

/**
 * Real processes end to end: a tracker and several nodes (chunk-store + peer-gateway each, own
 * DATA_DIR), NATS and Redis. Files go in over TCP (STORE_OFFER/STORE), move between gateways
 * over the peer protocol, and come back out over TCP (REQUEST/PIECE).
 */
describe('swarm: nodes fetching from each other', () => {
  let rpc: NatsRpc;
  let nc: NatsConnection;
  let tracker: RunningService;
  const nodes: Node[] = [];
  const events: DownloadProgressEvent[] = [];
  const small = makeFile(5 * 1024 * 1024 + 123, 64 * 1024, 'small.bin');
  const big = makeFile(32 * 1024 * 1024, 64 * 1024, 'big.bin');
  let a: Node;
  let b: Node;

  async function node(prefix: string, extra: Record<string, string> = {}): Promise<Node> {
    const n = await startNode(uniqueId(prefix), extra);
    nodes.push(n);
    return n;
  }

  beforeAll(async () => {
    await waitForBuilds();
    ({ rpc, nc } = await natsRpc());
    rpc.subscribe(EventSubjects.downloadProgress, DownloadProgressEventSchema, (e) => events.push(e));
    tracker = await startTracker();
    [a, b] = await Promise.all([node('a'), node('b')]);
  });

  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await tracker?.stop();
    await nc?.close();
  });

  it('shares a file on one node, fetches it on another, and reads it back byte for byte', async () => {
    await share(rpc, a, small);
    await waitSeeder(rpc, small.manifest.fileId, a.id);

    const started = await fetch(rpc, b, small.manifest.fileId);
    expect(['queued', 'running', 'complete']).toContain(started.state);
    // A second fetch joins the same download instead of starting another.
    expect((await fetch(rpc, b, small.manifest.fileId)).state).not.toBe('failed');

    const done = await waitDownload(rpc, b, small.manifest.fileId);
    expect(done).toMatchObject({ state: 'complete', size: small.data.length, chunkCount: 81, chunksDone: 81, bytesDone: small.data.length });
    expect(done.fromPeers).toEqual({ [a.id]: small.data.length });
    expect((await readBack(b, small.manifest)).equals(small.data)).toBe(true);

    // Progress events for the CLI: a few, the last one final.
    const mine = events.filter((e) => e.nodeId === b.id && e.fileId === small.manifest.fileId);
    expect(mine.length).toBeGreaterThanOrEqual(1);
    expect(mine.at(-1)).toMatchObject({ state: 'complete', chunksDone: 81 });
    // The tracker heard downloadCompleted: b is a seeder now, and the download counted.
    await waitSeeder(rpc, small.manifest.fileId, b.id);
    const rec = await rpc.request(TrackerSubjects.getFile, { fileId: small.manifest.fileId }, FileRecordSchema);
    expect(rec.downloads).toBe(1);
    // Fetching a file already complete returns at once.
    expect((await fetch(rpc, b, small.manifest.fileId)).state).toBe('complete');
  });

  it('detects a holder that serves corrupt chunks and finishes from an honest one', async () => {
    // A fake holder in this process: speaks the protocol correctly but flips a byte in every chunk.
    const evilId = uniqueId('evil');
    const handler = new CorruptingHandler();
    handler.add(small.manifest, small.data);
    // An insider: its certificate is from the swarm CA (peer TLS is on); only its chunks lie.
    const tls = await testPeerTls(evilId);
    const server: Server = createTlsServer(peerTlsServerOptions(tls, 5000), (s) => new PeerConnection(s, { nodeId: evilId, listen: null, handler }));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = `127.0.0.1:${(server.address() as { port: number }).port}`;
    await rpc.request(
      TrackerSubjects.announce,
      { nodeId: evilId, address, capacity: 1e9, free: 1e9, complete: [small.manifest.fileId], partial: [] },
      z.unknown(),
    );
    await waitSeeder(rpc, small.manifest.fileId, evilId);

    const c = await node('c');
    await fetch(rpc, c, small.manifest.fileId);
    const done = await waitDownload(rpc, c, small.manifest.fileId);
    server.close();
    expect(done.state).toBe('complete');
    expect(handler.served).toBeGreaterThan(0); // the fake holder was asked ...
    expect(done.fromPeers[evilId] ?? 0).toBe(0); // ... and none of its bytes were kept
    expect((done.fromPeers[a.id] ?? 0) + (done.fromPeers[b.id] ?? 0)).toBe(small.data.length);
    expect(c.gateway.logs.some((l) => l.msg === 'dropping holder' && l.holder === evilId && /corrupt chunk/.test(String(l.reason)))).toBe(true);
    expect((await readBack(c, small.manifest)).equals(small.data)).toBe(true);
  });

  it('survives a holder killed mid-download: its chunks are fetched from another', async () => {
    await share(rpc, a, big);
    await fetch(rpc, b, big.manifest.fileId);
    expect((await waitDownload(rpc, b, big.manifest.fileId)).state).toBe('complete');
    await waitSeeder(rpc, big.manifest.fileId, b.id);

    // One request in flight per holder, so the download takes long enough to kill a holder mid-way.
    const d = await node('d', { PIPELINE_DEPTH: '1' });
    await fetch(rpc, d, big.manifest.fileId);
    const mid = await waitDownload(rpc, d, big.manifest.fileId, { until: (s) => s.chunksDone >= 40 && (s.fromPeers[a.id] ?? 0) > 0 });
    expect(mid.state).toBe('running');
    await a.gateway.stop('SIGKILL');
    const done = await waitDownload(rpc, d, big.manifest.fileId, { timeoutMs: 120_000 });
    expect(done.state).toBe('complete');
    expect(done.fromPeers[a.id]).toBeGreaterThan(0);
    expect(done.fromPeers[b.id]).toBeGreaterThan(0);
    expect(done.fromPeers[a.id] + done.fromPeers[b.id]).toBe(big.data.length);
    expect(d.gateway.logs.some((l) => l.msg === 'dropping holder' && l.holder === a.id)).toBe(true);
    expect((await readBack(d, big.manifest)).equals(big.data)).toBe(true);
    await a.startGateway(); // same DATA_DIR and node id: a serves again
  });

  it('on SIGTERM gives in-flight leases back, and a restarted gateway resumes the download', async () => {
    const e = await node('e', { PIPELINE_DEPTH: '1', MAX_PEERS_PER_DOWNLOAD: '1' });
    await fetch(rpc, e, big.manifest.fileId);
    await waitDownload(rpc, e, big.manifest.fileId, { until: (s) => s.chunksDone >= 40 });
    await e.gateway.stop('SIGTERM');
    // Nest re-raises the signal once its shutdown hooks are done: a clean exit is "killed by SIGTERM" after our last log line.
    const exit = await e.gateway.exited;
    expect(exit.code === 0 || exit.signal === 'SIGTERM').toBe(true);
    expect(e.gateway.logs.some((l) => l.msg === 'peer gateway stopped')).toBe(true);

    await e.startGateway();
    await fetch(rpc, e, big.manifest.fileId);
    // Right after the restart: the chunks that were in flight at shutdown are not locked.
    const done = await waitDownload(rpc, e, big.manifest.fileId, { timeoutMs: 120_000 });
    expect(done.state).toBe('complete');
    const fetched = Object.values(done.fromPeers).reduce((x, y) => x + y, 0);
    expect(fetched).toBeLessThan(big.data.length); // resumed: only what was missing
    expect(done.bytesDone).toBe(big.data.length);
    expect((await readBack(e, big.manifest)).equals(big.data)).toBe(true);
  });

  it('fails clearly when the file is unknown to the tracker', async () => {
    const unknown = 'ef'.repeat(32);
    await fetch(rpc, b, unknown);
    const s = await waitDownload(rpc, b, unknown);
    expect(s).toMatchObject({ state: 'failed', error: expect.stringMatching(/no file with id .* is registered/) });
    expect((await status(rpc, b, unknown)).state).toBe('failed');
  });
});
