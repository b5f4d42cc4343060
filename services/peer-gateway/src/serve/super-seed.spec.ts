import { PeerConnection, PeerRequestError, TRY_PEERS_FEATURE } from '@swarmshare/common';
import { MemoryHandler, makeFile, socketPair } from '../../../../libs/common/test/memory-handler';
import { LocalPeerHandler } from './local-peer-handler';
import { SuperSeeder } from './super-seed';
import { TokenBucket } from '../transport/token-bucket';
import { UploadGate, UploadSlots } from '../transport/upload-slots';

const CHUNK = 64 * 1024;
const FILE = 'ab'.repeat(32);

function seeder(over: { windowMs?: number; complete?: () => Promise<boolean> } = {}) {
  const clock = { t: 0 };
  const asked: string[] = [];
  const s = new SuperSeeder({
    windowMs: over.windowMs ?? 1000,
    now: () => clock.t,
    isComplete: async (fileId) => {
      asked.push(fileId);
      return over.complete ? over.complete() : true;
    },
  });
  return { s, clock, asked };
}

describe('SuperSeeder', () => {
  it('refuses a chunk sent to a different peer within the window, with TRY_PEERS and a way out', async () => {
    const { s, clock } = seeder();
    await s.admit(FILE, 3, 'node-a');
    await expect(s.admit(FILE, 3, 'node-b')).rejects.toMatchObject({ code: 'TRY_PEERS', message: expect.stringMatching(/just sent to node-a: fetch it from peers .*after 1000 ms/) });
    await s.admit(FILE, 4, 'node-b'); // another chunk: served
    await s.admit(FILE, 3, 'node-a'); // the same peer again (e.g. it lost the chunk): served
    clock.t = 1000;
    await s.admit(FILE, 3, 'node-b'); // the window is over: served to anyone
    await expect(s.admit(FILE, 3, 'node-a')).rejects.toMatchObject({ code: 'TRY_PEERS' }); // ... and node-b is its latest receiver
  });

  it('never refuses a peer that is the only one fetching: every chunk went to it', async () => {
    const { s } = seeder();
    for (let i = 0; i < 50; i++) await s.admit(FILE, i, 'node-a');
    for (let i = 0; i < 50; i++) await s.admit(FILE, i, 'node-a');
  });

  it('the window counts from the end of the send; a send that did not happen blocks nobody', async () => {
    const { s, clock } = seeder();
    await s.admit(FILE, 1, 'node-a');
    clock.t = 900;
    s.sent(FILE, 1, 'node-a'); // the PIECE took 900 ms to write
    clock.t = 1800;
    await expect(s.admit(FILE, 1, 'node-b')).rejects.toMatchObject({ code: 'TRY_PEERS' });
    await s.admit(FILE, 2, 'node-a');
    s.forget(FILE, 2, 'node-a'); // e.g. the chunk could not be read
    await s.admit(FILE, 2, 'node-b');
    s.forget(FILE, 2, 'node-a'); // not node-a's any more: no effect
    await expect(s.admit(FILE, 2, 'node-a')).rejects.toMatchObject({ code: 'TRY_PEERS' });
  });

  it('only at a complete holder: "complete" is asked once, "not complete" again after a while', async () => {
    let complete = false;
    const { s, clock, asked } = seeder({ complete: async () => complete });
    await s.admit(FILE, 0, 'node-a');
    await s.admit(FILE, 0, 'node-b'); // a partial holder serves whatever it has
    expect(asked).toHaveLength(1);
    complete = true;
    await s.admit(FILE, 0, 'node-c'); // still believed incomplete
    clock.t = 1000;
    await s.admit(FILE, 0, 'node-a');
    await expect(s.admit(FILE, 0, 'node-b')).rejects.toMatchObject({ code: 'TRY_PEERS' });
    await s.admit(FILE, 1, 'node-b');
    expect(asked).toHaveLength(2);
  });

  it('a file that lost chunks (rm, corrupt chunk) is forgotten: the store is asked again, and a partial holder serves anyone', async () => {
    let complete = true;
    const { s, asked } = seeder({ complete: async () => complete });
    await s.admit(FILE, 0, 'node-a');
    await expect(s.admit(FILE, 0, 'node-b')).rejects.toMatchObject({ code: 'TRY_PEERS' });
    complete = false;
    s.forgetFile(FILE);
    await s.admit(FILE, 0, 'node-b');
    expect(asked).toHaveLength(2);
    expect(s.trackedSends).toBe(0);
  });

  it('serves as usual when the store cannot say whether the file is complete', async () => {
    const { s } = seeder({ complete: async () => Promise.reject(new Error('store down')) });
    await s.admit(FILE, 0, 'node-a');
    await s.admit(FILE, 0, 'node-b');
  });

  it('0 = off', async () => {
    const { s, asked } = seeder({ windowMs: 0 });
    expect(s.enabled).toBe(false);
    await s.admit(FILE, 0, 'node-a');
    await s.admit(FILE, 0, 'node-b');
    expect(asked).toEqual([]);
    expect(() => new SuperSeeder({ windowMs: -1, isComplete: async () => true })).toThrow(RangeError);
  });

  it('memory stays bounded: sends older than the window are forgotten as new ones come', async () => {
    const { s, clock } = seeder();
    for (let i = 0; i < 1000; i++) {
      clock.t = i * 10; // 100 sends per window
      await s.admit(FILE, i, i % 2 ? 'node-a' : 'node-b');
    }
    expect(s.trackedSends).toBeLessThanOrEqual(101);
    for (let f = 0; f < 100; f++) await s.admit(f.toString(16).padStart(64, '0'), 0, 'node-a');
    expect(s.trackedSends).toBeLessThanOrEqual(64 + 101);
  });
});

describe('super-seeding on the serve path', () => {
  /** A complete holder: a LocalPeerHandler over a MemoryHandler, super-seeding with a test clock. */
  async function holder(windowMs = 1000, gate = new UploadGate(new UploadSlots(4))) {
    const f = makeFile(4 * CHUNK);
    const regions = new MemoryHandler();
    regions.add(f.manifest, f.data);
    const clock = { t: 0 };
    const superSeed = new SuperSeeder({ windowMs, now: () => clock.t, isComplete: async () => true });
    const handler = new LocalPeerHandler({ have: jest.fn(), manifest: jest.fn(), manifestPage: jest.fn(), create: jest.fn() }, regions, undefined, undefined, { superSeed });
    const closers: Array<() => void> = [];
    const peer = async (nodeId: string, features: string[]) => {
      const p = await socketPair();
      const server: PeerConnection = new PeerConnection(p.b, { nodeId: 'seed', listen: null, handler: gate.forPeer(handler, (): string => server.remote?.nodeId ?? '?') });
      const client = new PeerConnection(p.a, { nodeId, listen: null, features });
      await Promise.all([server.ready, client.ready]);
      closers.push(p.close);
      return client;
    };
    return { f, regions, clock, peer, close: () => closers.forEach((c) => c()) };
  }

  it('refuses a second try-peers peer with a non-fatal TRY_PEERS; a peer without the feature is always served', async () => {
    const { f, peer, clock, close } = await holder();
    const a = await peer('node-a', [TRY_PEERS_FEATURE]);
    const b = await peer('node-b', [TRY_PEERS_FEATURE]);
    const cli = await peer('cli-old', []);
    const buf = () => Buffer.alloc(CHUNK);
    expect(await a.requestChunk(f.manifest.fileId, 0, buf())).toBe(CHUNK);
    const refused = await b.requestChunk(f.manifest.fileId, 0, buf()).catch((e) => e);
    expect(refused).toBeInstanceOf(PeerRequestError);
    expect(refused).toMatchObject({ code: 'TRY_PEERS', message: expect.stringMatching(/fetch it from peers/) });
    expect(b.state).toBe('open');
    // A peer that never announced try-peers would count the chunk as missing here: it is served.
    expect(await cli.requestChunk(f.manifest.fileId, 0, buf())).toBe(CHUNK);
    clock.t = 1000;
    const target = buf();
    expect(await b.requestChunk(f.manifest.fileId, 0, target)).toBe(CHUNK);
    expect(target.equals(f.chunk(0))).toBe(true);
    close();
  });

  it('a refusal queued behind a chunk being read is answered at once, not in order', async () => {
    const { f, regions, peer, close } = await holder();
    const a = await peer('node-a', [TRY_PEERS_FEATURE]);
    const b = await peer('node-b', [TRY_PEERS_FEATURE]);
    await a.requestChunk(f.manifest.fileId, 0, Buffer.alloc(CHUNK));
    let open!: () => void;
    regions.readGate = new Promise<void>((r) => (open = r)); // reads stall from now on
    let firstDone = false;
    const first = b.requestChunk(f.manifest.fileId, 1, Buffer.alloc(CHUNK)).then((n) => ((firstDone = true), n));
    await expect(b.requestChunk(f.manifest.fileId, 0, Buffer.alloc(CHUNK))).rejects.toMatchObject({ code: 'TRY_PEERS' });
    expect(firstDone).toBe(false);
    open();
    expect(await first).toBe(CHUNK);
    expect(regions.openReads).toBe(0);
    close();
  });

  it('a refusal does not wait for an upload slot', async () => {
    // One slot, and an upload limit that lets one chunk go: node-a's second chunk holds the slot, waiting for tokens.
    const bucket = new TokenBucket(1, CHUNK);
    const { f, peer, close } = await holder(1000, new UploadGate(new UploadSlots(1), bucket));
    const a = await peer('node-a', [TRY_PEERS_FEATURE]);
    const b = await peer('node-b', [TRY_PEERS_FEATURE]);
    await a.requestChunk(f.manifest.fileId, 0, Buffer.alloc(CHUNK));
    let aDone = false;
    const slow = a.requestChunk(f.manifest.fileId, 1, Buffer.alloc(CHUNK)).then((n) => ((aDone = true), n));
    await expect(b.requestChunk(f.manifest.fileId, 0, Buffer.alloc(CHUNK))).rejects.toMatchObject({ code: 'TRY_PEERS' });
    expect(aDone).toBe(false); // node-b was told while node-a still held the only slot
    bucket.close(); // lets the waiting chunk go
    expect(await slow).toBe(CHUNK);
    close();
  });
});
