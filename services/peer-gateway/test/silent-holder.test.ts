/**
 * A holder that says HELLO and then never answers (a real mutual-TLS socket with the swarm CA's
 * certificate): a real gateway downloading from it must not hang on its MANIFEST_REQUEST or
 * HAVE_REQUEST. With PEER_ANSWER_TIMEOUT_MS the silent holder is cut off (fatal ERROR TIMEOUT) and
 * the download goes on with the other holders, or fails saying why when there is none.
 */
import { createHash } from 'node:crypto';
import type { Server } from 'node:tls';
import { z } from 'zod';
import { type Manifest, MsgType, type NatsRpc, PeerConnection, TrackerSubjects } from '@swarmshare/common';
import type { NatsConnection } from 'nats';
import { testPeerTls, tlsPeerServer } from '../../../test/support/peer-tls';
import type { RunningService } from '../../../test/support/services';
import { type Node, fetch, natsRpc, readBack, startNode, startTracker, uniqueId, waitDownload, waitForBuilds, waitSeeder } from './cluster';
import { MemoryHandler, makeFile } from '../../../libs/common/test/memory-handler';
import { RawPeer } from '../../../libs/common/test/raw-peer';

const ANSWER_TIMEOUT_MS = 1500;

describe('a holder that goes silent after HELLO (real gateway, real TLS sockets)', () => {
  let rpc: NatsRpc;
  let nc: NatsConnection;
  let tracker: RunningService;
  let fetcher: Node;
  const servers: Server[] = [];
  /** The silent holder's side of each connection the gateway made to it. */
  const silentLinks: RawPeer[] = [];

  beforeAll(async () => {
    await waitForBuilds();
    ({ rpc, nc } = await natsRpc());
    tracker = await startTracker();
    fetcher = await startNode(uniqueId('fetch'), { PEER_ANSWER_TIMEOUT_MS: String(ANSWER_TIMEOUT_MS) });
  });

  afterAll(async () => {
    for (const l of silentLinks) l.destroy();
    for (const s of servers) s.close();
    await fetcher?.stop();
    await tracker?.stop();
    await nc?.close();
  });

  async function listenOn(server: Server): Promise<string> {
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return `127.0.0.1:${(server.address() as { port: number }).port}`;
  }

  /** Says HELLO as `id` (with its certificate), reads every frame, answers none. */
  async function silentHolder(id: string): Promise<string> {
    return listenOn(
      tlsPeerServer(await testPeerTls(id), (s) => {
        const raw = new RawPeer(s);
        silentLinks.push(raw);
        raw.hello(id);
      }),
    );
  }

  /** A holder that serves the file in full. */
  async function goodHolder(id: string, f: ReturnType<typeof makeFile>): Promise<string> {
    const handler = new MemoryHandler();
    handler.add(f.manifest, f.data);
    return listenOn(tlsPeerServer(await testPeerTls(id), (s) => new PeerConnection(s, { nodeId: id, listen: null, handler })));
  }

  /** The tracker lists `holders` (id -> address) as seeders of the file. */
  async function register(f: { manifest: Manifest; data: Buffer }, holders: Record<string, string>): Promise<void> {
    const m = f.manifest;
    const [first] = Object.keys(holders);
    const hash = createHash('sha256').update(f.data).digest('hex');
    await rpc.request(TrackerSubjects.registerFile, { fileId: m.fileId, name: m.name, size: m.size, chunkSize: m.chunkSize, chunkCount: m.hashes.length, hash, nodeId: first }, z.unknown());
    for (const [nodeId, address] of Object.entries(holders)) {
      await rpc.request(TrackerSubjects.announce, { nodeId, address, capacity: 1e9, free: 1e9, complete: [m.fileId], partial: [] }, z.unknown());
      await waitSeeder(rpc, m.fileId, nodeId);
    }
  }

  it('with only a silent holder, the download fails within the timeout and says the holder did not answer', async () => {
    const f = makeFile(4 * 64 * 1024, 64 * 1024, 'silent-only.bin');
    const silentId = uniqueId('silent');
    await register(f, { [silentId]: await silentHolder(silentId) });
    const started = Date.now();
    await fetch(rpc, fetcher, f.manifest.fileId);
    const s = await waitDownload(rpc, fetcher, f.manifest.fileId, { timeoutMs: 30_000 });
    expect(s.state).toBe('failed');
    expect(s.errorCode).toBe('UNAVAILABLE');
    expect(s.error).toContain(`no answer to MANIFEST_REQUEST within ${ANSWER_TIMEOUT_MS} ms (PEER_ANSWER_TIMEOUT_MS)`);
    expect(s.error).toContain(silentId);
    // Bounded by the answer timeout (plus connect and tracker round trips), not by anything longer.
    expect(Date.now() - started).toBeLessThan(ANSWER_TIMEOUT_MS + 8000);
    // The holder was asked, then told why it was cut off (the gateway's overlay may hold other links to it).
    const link = silentLinks.find((l) => l.frames.some((x) => x.type === MsgType.MANIFEST_REQUEST))!;
    expect(link).toBeDefined();
    expect(await link.fatalError()).toMatchObject({ code: 'TIMEOUT', message: expect.stringContaining('MANIFEST_REQUEST') });
  });

  it('beside a good holder, the silent one is dropped (its MANIFEST or HAVE timed out) and the download completes', async () => {
    const f = makeFile(12 * 64 * 1024 + 77, 64 * 1024, 'silent-and-good.bin');
    const silentId = uniqueId('silent');
    const goodId = uniqueId('good');
    const linksBefore = silentLinks.length;
    await register(f, { [silentId]: await silentHolder(silentId), [goodId]: await goodHolder(goodId, f) });
    await fetch(rpc, fetcher, f.manifest.fileId);
    const s = await waitDownload(rpc, fetcher, f.manifest.fileId, { timeoutMs: 30_000 });
    expect(s.state).toBe('complete');
    expect(s.fromPeers[goodId]).toBe(f.data.length);
    expect(s.fromPeers[silentId] ?? 0).toBe(0);
    expect((await readBack(fetcher, f.manifest)).equals(f.data)).toBe(true);
    // Whichever it was asked first (the manifest, or its HAVE once the manifest came from the good
    // holder), the silent holder was cut off with TIMEOUT and the gateway logged why it dropped it.
    const link = silentLinks.slice(linksBefore).find((l) => l.frames.some((x) => x.type === MsgType.MANIFEST_REQUEST || x.type === MsgType.HAVE_REQUEST))!;
    expect(link).toBeDefined();
    expect(await link.fatalError()).toMatchObject({ code: 'TIMEOUT', message: expect.stringMatching(/no answer to (MANIFEST|HAVE)_REQUEST/) });
    const drop = fetcher.gateway.logs.find((l) => l.msg === 'dropping holder' && l.holder === silentId);
    expect(drop?.reason).toMatch(/TIMEOUT: no answer to (MANIFEST|HAVE)_REQUEST within 1500 ms/);
  });
});
