import type { Socket } from 'node:net';
import {
  connectPeer,
  type DownloadStatus,
  type FileRecord,
  HAVE_UPDATES_FEATURE,
  type HaveUpdateTarget,
  type Manifest,
  PeerConnection,
  type ReadRegion,
  sha256Hex,
  SwarmError,
  TRY_PEERS_FEATURE,
} from '@swarmshare/common';
import { CorruptingHandler, MemoryHandler, listen, makeFile } from '../../../../libs/common/test/memory-handler';
import { DownloadJob, type DownloadJobDeps } from './download-job';
import { holdersOf } from './holder-pool';
import { HaveUpdates } from '../serve/have-updates';

const CHUNK = 64 * 1024;

/** A holder: a real listening socket whose connections are served from a MemoryHandler. */
async function holder(nodeId: string, handler: MemoryHandler) {
  const conns = new Set<PeerConnection>();
  const srv = await listen((s: Socket) => {
    const c = new PeerConnection(s, { nodeId, listen: null, handler });
    conns.add(c);
  });
  return {
    ref: { nodeId, address: `127.0.0.1:${srv.port}` },
    handler,
    /** Drop dead: every connection reset at once. */
    kill: () => {
      for (const c of conns) c.socket.destroy();
    },
    close: () => srv.close(),
  };
}

function record(m: Manifest, seeders: Array<{ nodeId: string; address: string | null }>): FileRecord {
  return { fileId: m.fileId, name: m.name, size: m.size, chunkSize: m.chunkSize, chunkCount: m.hashes.length, hash: sha256Hex(Buffer.alloc(0)), registeredAt: 0, downloads: 0, seeders, leechers: [] };
}

/** The downloading node: its "chunk-store" is a MemoryHandler, the tracker a recorder. */
function job(m: Manifest, seeders: Array<{ nodeId: string; address: string | null }>, local = new MemoryHandler(), over: Partial<DownloadJobDeps> = {}) {
  const progress: Array<{ s: DownloadStatus; final: boolean }> = [];
  const completed: unknown[] = [];
  const j = new DownloadJob(m.fileId, {
    nodeId: 'node-b',
    tracker: {
      getFile: async () => record(m, seeders),
      downloadStarted: async () => undefined,
      downloadCompleted: async (b) => void completed.push(b),
      downloadStopped: async () => undefined,
      peerUnreachable: async () => undefined,
    },
    store: local.asStore(),
    regions: local,
    connect: (address, nodeId) => connectPeer(address, { nodeId: 'node-b', listen: null, expectNodeId: nodeId }),
    onProgress: (s, final) => progress.push({ s, final }),
    pipelineDepth: 4,
    maxPeers: 8,
    retryDelayMs: 10,
    ...over,
  });
  const bytes = () => Buffer.concat(local.files.get(m.fileId)!.chunks.map((c) => c ?? Buffer.alloc(0)));
  return { j, local, progress, completed, bytes };
}

describe('DownloadJob', () => {
  it('pulls a file from several holders at once and reports who sent what', async () => {
    const f = makeFile(40 * CHUNK + 123);
    const ha = new MemoryHandler();
    ha.add(f.manifest, f.data);
    const hc = new MemoryHandler();
    hc.add(f.manifest, f.data);
    const a = await holder('node-a', ha);
    const c = await holder('node-c', hc);
    const { j, local, progress, completed, bytes } = job(f.manifest, [a.ref, c.ref, { nodeId: 'node-b', address: '127.0.0.1:1' }, { nodeId: 'node-z', address: null }]);
    await j.start();
    expect(j.status).toMatchObject({ state: 'complete', chunksDone: 41, bytesDone: f.data.length, size: f.data.length, chunkCount: 41 });
    expect(bytes().equals(f.data)).toBe(true);
    expect(j.status.fromPeers['node-a'] + j.status.fromPeers['node-c']).toBe(f.data.length);
    expect(j.status.fromPeers['node-a']).toBeGreaterThan(0);
    expect(j.status.fromPeers['node-c']).toBeGreaterThan(0);
    expect(completed).toEqual([{ fileId: f.manifest.fileId, nodeId: 'node-b', from: expect.arrayContaining([{ nodeId: 'node-a', bytes: j.status.fromPeers['node-a'] }]) }]);
    expect(progress.at(-1)).toMatchObject({ final: true, s: { state: 'complete' } });
    expect(progress.filter((p) => p.final)).toHaveLength(1);
    expect(local.openWrites).toBe(0);
    expect(ha.openReads + hc.openReads).toBe(0);
    await a.close();
    await c.close();
  });

  it('resumes: chunks already present locally are not fetched again', async () => {
    const f = makeFile(10 * CHUNK);
    const ha = new MemoryHandler();
    ha.add(f.manifest, f.data);
    const a = await holder('node-a', ha);
    const local = new MemoryHandler();
    local.add(f.manifest, f.data, [0, 1, 2, 3, 4, 5, 6]);
    const { j, bytes } = job(f.manifest, [a.ref], local);
    await j.start();
    expect(j.status.state).toBe('complete');
    expect(j.status.fromPeers['node-a']).toBe(3 * CHUNK);
    expect(bytes().equals(f.data)).toBe(true);
    await a.close();
  });

  it('only asks a holder for chunks it has (partial holders, rarest first)', async () => {
    const f = makeFile(8 * CHUNK);
    const ha = new MemoryHandler();
    ha.add(f.manifest, f.data, [0, 1, 2, 3]);
    const hc = new MemoryHandler();
    hc.add(f.manifest, f.data, [4, 5, 6, 7, 0]);
    const a = await holder('node-a', ha);
    const c = await holder('node-c', hc);
    const { j, bytes } = job(f.manifest, [a.ref, c.ref]);
    await j.start();
    expect(j.status.state).toBe('complete');
    expect(bytes().equals(f.data)).toBe(true);
    expect(j.status.fromPeers['node-a']).toBeGreaterThanOrEqual(3 * CHUNK);
    expect(j.status.fromPeers['node-c']).toBeGreaterThanOrEqual(4 * CHUNK);
    await a.close();
    await c.close();
  });

  it('drops a holder that serves corrupt chunks and finishes from another', async () => {
    const f = makeFile(24 * CHUNK);
    const bad = new CorruptingHandler();
    bad.add(f.manifest, f.data);
    const good = new MemoryHandler();
    good.add(f.manifest, f.data);
    const x = await holder('node-x', bad);
    const a = await holder('node-a', good);
    const { j, local, bytes } = job(f.manifest, [x.ref, a.ref], undefined, { random: () => 0 });
    await j.start();
    expect(j.status.state).toBe('complete');
    expect(bytes().equals(f.data)).toBe(true);
    expect(bad.served).toBeGreaterThan(0); // it was asked, and caught
    expect(j.status.fromPeers['node-x'] ?? 0).toBe(0);
    expect(j.status.fromPeers['node-a']).toBe(f.data.length);
    expect(local.openWrites).toBe(0);
    await x.close();
    await a.close();
  });

  it('drops a holder whose manifest does not match the file id', async () => {
    const f = makeFile(4 * CHUNK);
    const other = makeFile(4 * CHUNK);
    const liar = new MemoryHandler();
    // Answers for f's id with another file's manifest.
    liar.files.set(f.manifest.fileId, { manifest: other.manifest, chunks: [] });
    const good = new MemoryHandler();
    good.add(f.manifest, f.data);
    const x = await holder('node-x', liar);
    const a = await holder('node-a', good);
    const { j, bytes } = job(f.manifest, [x.ref, a.ref]);
    await j.start();
    expect(j.status.state).toBe('complete');
    expect(bytes().equals(f.data)).toBe(true);
    await x.close();
    await a.close();
  });

  it('re-queues the chunks of a holder that dies mid-download', async () => {
    const f = makeFile(60 * CHUNK);
    const dying = new MemoryHandler();
    dying.add(f.manifest, f.data);
    const good = new MemoryHandler();
    good.add(f.manifest, f.data);
    good.leaseDelayMs = 2; // keep the download going long enough for the kill to land mid-way
    const x = await holder('node-x', dying);
    const a = await holder('node-a', good);
    let served = 0;
    const orig = dying.openRead.bind(dying);
    dying.openRead = async (id, i) => {
      if (++served === 5) setImmediate(() => x.kill());
      return orig(id, i);
    };
    const { j, local, bytes } = job(f.manifest, [x.ref, a.ref]);
    await j.start();
    expect(j.status.state).toBe('complete');
    expect(bytes().equals(f.data)).toBe(true);
    expect(j.status.fromPeers['node-x']).toBeLessThan(f.data.length);
    expect(j.status.fromPeers['node-a']).toBeGreaterThan(0);
    expect(local.openWrites).toBe(0);
    await x.close();
    await a.close();
  });

  it('fails with a clear error when no holder is left and chunks are missing', async () => {
    const f = makeFile(6 * CHUNK);
    const partial = new MemoryHandler();
    partial.add(f.manifest, f.data, [0, 1, 2]);
    const a = await holder('node-a', partial);
    const { j, progress, local } = job(f.manifest, [a.ref]);
    await j.start();
    expect(j.status.state).toBe('failed');
    expect(j.status.error).toMatch(/3 of 6 chunks .* are missing and no holder that has them is left/);
    expect(j.status.chunksDone).toBe(3);
    expect(progress.at(-1)).toMatchObject({ final: true, s: { state: 'failed' } });
    expect(local.openWrites).toBe(0);
    await a.close();
  });

  it('fails when the tracker knows no reachable holder', async () => {
    const f = makeFile(CHUNK);
    const { j } = job(f.manifest, [{ nodeId: 'node-z', address: null }]);
    await j.start();
    expect(j.status).toMatchObject({ state: 'failed', error: expect.stringMatching(/no peer holding file .* can be reached/) });
    const dead = job(f.manifest, [{ nodeId: 'node-q', address: '127.0.0.1:1' }]).j;
    await dead.start();
    expect(dead.status.error).toMatch(/no holder .* served a valid manifest \(node-q \(127.0.0.1:1\): cannot connect/);
  });

  it('fails when the tracker does not know the file', async () => {
    const f = makeFile(CHUNK);
    const { j } = job(f.manifest, [], undefined, {
      tracker: {
        getFile: async () => {
          throw new SwarmError('NOT_FOUND', 'file is not registered');
        },
        downloadStarted: async () => undefined,
        downloadStopped: async () => undefined,
        peerUnreachable: async () => undefined,
        downloadCompleted: async () => undefined,
      },
    });
    await j.start();
    expect(j.status).toMatchObject({ state: 'failed', error: 'file is not registered' });
  });

  it('cancel gives in-flight write leases back', async () => {
    const f = makeFile(16 * CHUNK);
    const slow = new MemoryHandler();
    slow.add(f.manifest, f.data);
    slow.readGate = new Promise(() => undefined); // never answers
    const a = await holder('node-a', slow);
    const { j, local } = job(f.manifest, [a.ref]);
    const done = j.start();
    while (local.openWrites < 4) await new Promise((r) => setTimeout(r, 5));
    await j.cancel('shutting down');
    await done;
    expect(j.status).toMatchObject({ state: 'failed', error: 'shutting down' });
    expect(local.openWrites).toBe(0);
    await a.close();
  });

  it('drops a holder that stops answering', async () => {
    const f = makeFile(4 * CHUNK);
    const stuck = new MemoryHandler();
    stuck.add(f.manifest, f.data);
    stuck.readGate = new Promise(() => undefined);
    const good = new MemoryHandler();
    good.add(f.manifest, f.data);
    const x = await holder('node-x', stuck);
    const a = await holder('node-a', good);
    const { j, bytes } = job(f.manifest, [x.ref, a.ref], undefined, { chunkTimeoutMs: 300 });
    await j.start();
    expect(j.status.state).toBe('complete');
    expect(bytes().equals(f.data)).toBe(true);
    await x.close();
    await a.close();
  });
});

/** A complete holder that refuses chunks with TRY_PEERS, as super-seeding does: `once` the first time each is asked, `always` every time. */
class RefusingHandler extends MemoryHandler {
  refusals = 0;
  constructor(
    private readonly once: Set<number>,
    private readonly always = new Set<number>(),
  ) {
    super();
  }

  override async openRead(fileId: string, index: number): Promise<ReadRegion> {
    if (this.once.delete(index) || this.always.has(index)) {
      this.refusals++;
      throw new SwarmError('TRY_PEERS', `chunk ${index} was just sent to another peer: fetch it from peers`);
    }
    return super.openRead(fileId, index);
  }
}

describe('DownloadJob: super-seeding refusals and have-updates', () => {
  const withFeatures = (address: string, nodeId: string) =>
    connectPeer(address, { nodeId: 'node-b', listen: null, expectNodeId: nodeId, features: [HAVE_UPDATES_FEATURE, TRY_PEERS_FEATURE] });

  it('a TRY_PEERS refusal defers the chunk at that holder only: the download completes even when it is the only holder', async () => {
    const f = makeFile(12 * CHUNK);
    const seed = new RefusingHandler(new Set(Array.from({ length: 12 }, (_, i) => i)));
    seed.add(f.manifest, f.data);
    const s = await holder('node-s', seed);
    // No HAVE refresh loop: only the deferral timer brings the refused chunks back. A stall timeout
    // shorter than the test: refusals are answers, not stalls, so the holder is never dropped.
    const { j, bytes } = job(f.manifest, [s.ref], undefined, { connect: withFeatures, haveRefreshMs: 0, tryPeersDeferMs: 20, chunkTimeoutMs: 1000 });
    await j.start();
    expect(j.status.state).toBe('complete');
    expect(bytes().equals(f.data)).toBe(true);
    expect(seed.refusals).toBe(12);
    expect(j.tryPeersRefusals).toBe(12);
    expect(j.status.fromPeers['node-s']).toBe(f.data.length);
    expect(seed.openReads).toBe(0);
    await s.close();
  });

  it('applies have-updates: chunks a partial holder stores later are fetched from it, without a HAVE poll', async () => {
    const f = makeFile(8 * CHUNK);
    // The seed keeps refusing chunks 4-7 (its first receiver has them); the peer gets them later.
    const seed = new RefusingHandler(new Set(), new Set([4, 5, 6, 7]));
    seed.add(f.manifest, f.data);
    const peer = new MemoryHandler();
    peer.add(f.manifest, f.data, [0, 1, 2, 3]);
    const hub = new HaveUpdates(10);
    Object.assign(peer, { watchHave: (fileId: string, t: HaveUpdateTarget) => hub.watch(fileId, t) });
    const s = await holder('node-s', seed);
    const p = await holder('node-p', peer);
    const { j, bytes } = job(f.manifest, [s.ref, p.ref], undefined, { connect: withFeatures, haveRefreshMs: 0, tryPeersDeferMs: 20 });
    const done = j.start();
    while (seed.refusals === 0) await new Promise((r) => setTimeout(r, 5));
    peer.add(f.manifest, f.data); // the peer stored chunks 4-7 ...
    for (const i of [4, 5, 6, 7]) hub.stored(f.manifest.fileId, i); // ... and tells who asked
    await done;
    expect(j.status.state).toBe('complete');
    expect(bytes().equals(f.data)).toBe(true);
    expect(j.status.fromPeers['node-p']).toBeGreaterThanOrEqual(4 * CHUNK);
    await s.close();
    await p.close();
  });
});

describe('holdersOf', () => {
  it('seeders first, then leechers, with an address, without duplicates or self', () => {
    const f = makeFile(CHUNK);
    const r = record(f.manifest, [
      { nodeId: 'a', address: 'h:1' },
      { nodeId: 'me', address: 'h:2' },
      { nodeId: 'n', address: null },
    ]);
    r.leechers = [
      { nodeId: 'a', address: 'h:1' },
      { nodeId: 'l', address: 'h:3' },
    ];
    expect(holdersOf(r, 'me').map((p) => p.nodeId)).toEqual(['a', 'l']);
  });
});
