import type { Socket } from 'node:net';
import { connectPeer, HAVE_UPDATES_FEATURE, type HaveUpdateTarget, MsgType, PeerConnection } from '@swarmshare/common';
import { MemoryHandler, listen, makeFile, socketPair } from '../../../../libs/common/test/memory-handler';
import { RawPeer } from '../../../../libs/common/test/raw-peer';
import { HaveUpdates } from './have-updates';

const CHUNK = 64 * 1024;

function target() {
  let close!: (r: string) => void;
  const sent: Array<[string, number[]]> = [];
  const t: HaveUpdateTarget = { sendHaveUpdate: (fileId, indexes) => void sent.push([fileId, [...indexes]]), closed: new Promise((r) => (close = r)) };
  return { t, sent, close: (r = 'bye') => close(r) };
}

describe('HaveUpdates', () => {
  it('batches the chunks stored meanwhile into one update per file and watcher', async () => {
    const hub = new HaveUpdates(1000);
    const x = target();
    const y = target();
    hub.watch('f1', x.t);
    hub.watch('f1', x.t); // every HAVE_REQUEST watches again: still one watcher
    hub.watch('f1', y.t);
    hub.watch('f2', y.t);
    hub.stored('f1', 3);
    hub.stored('f1', 7);
    hub.stored('f2', 1);
    hub.stored('f3', 9); // nobody asked about f3
    expect(x.sent).toEqual([]);
    hub.flush();
    expect(x.sent).toEqual([['f1', [3, 7]]]);
    expect(y.sent).toEqual([
      ['f1', [3, 7]],
      ['f2', [1]],
    ]);
    hub.flush();
    expect(x.sent).toHaveLength(1); // nothing new
  });

  it('sends on its own after the batch interval, and forgets closed connections', async () => {
    const hub = new HaveUpdates(5);
    const x = target();
    hub.watch('f1', x.t);
    x.close();
    await new Promise((r) => setImmediate(r));
    expect(hub.watching('f1')).toBe(0);
    const y = target();
    const got = new Promise<unknown>((r) => (y.t.sendHaveUpdate = (fileId, indexes) => r([fileId, indexes])));
    hub.watch('f1', y.t);
    hub.stored('f1', 2);
    expect(await got).toEqual(['f1', [2]]);
    expect(x.sent).toEqual([]);
  });

  it('0 = never: nobody is watched', () => {
    const hub = new HaveUpdates(0);
    const x = target();
    hub.watch('f1', x.t);
    hub.stored('f1', 1);
    hub.flush();
    expect(x.sent).toEqual([]);
    expect(() => new HaveUpdates(-5)).toThrow(RangeError);
  });
});

describe('HAVE_UPDATE on the wire', () => {
  /** A holder whose handler watches through a HaveUpdates hub, and a downloader with or without the feature. */
  async function pair(features: string[]) {
    const f = makeFile(8 * CHUNK);
    const hub = new HaveUpdates(1000);
    const handler = new MemoryHandler();
    handler.add(f.manifest, f.data, [0]);
    Object.assign(handler, { watchHave: (fileId: string, t: HaveUpdateTarget) => hub.watch(fileId, t) });
    const p = await socketPair();
    const holder = new PeerConnection(p.b, { nodeId: 'node-a', listen: null, handler });
    const fetcher = new PeerConnection(p.a, { nodeId: 'node-b', listen: null, features });
    await Promise.all([holder.ready, fetcher.ready]);
    return { f, hub, holder, fetcher, close: p.close };
  }

  it('a peer that asked for the HAVE hears of chunks stored afterwards', async () => {
    const { f, hub, fetcher, close } = await pair([HAVE_UPDATES_FEATURE]);
    expect((await fetcher.have(f.manifest.fileId)).bitfield.indexes()).toEqual([0]);
    const got = new Promise<unknown>((r) => fetcher.onHaveUpdate((fileId, indexes) => r({ fileId, indexes })));
    hub.stored(f.manifest.fileId, 5);
    hub.stored(f.manifest.fileId, 2);
    hub.flush();
    expect(await got).toEqual({ fileId: f.manifest.fileId, indexes: [5, 2] });
    close();
  });

  it('a peer that did not announce the feature is never sent one', async () => {
    const { f, hub, holder, fetcher, close } = await pair([]);
    await fetcher.have(f.manifest.fileId);
    expect(hub.watching(f.manifest.fileId)).toBe(0);
    holder.sendHaveUpdate(f.manifest.fileId, [1]); // a no-op towards this peer
    await fetcher.have(f.manifest.fileId); // answered in order: an update would have come first
    expect(fetcher.state).toBe('open');
    close();
  });

  /** The downloader's side facing a RawPeer holder that sends whatever the test says. */
  async function facingRawHolder() {
    let raw!: RawPeer;
    const srv = await listen((s: Socket) => {
      raw = new RawPeer(s);
      raw.hello('node-a');
    });
    const conn = await connectPeer(`127.0.0.1:${srv.port}`, { nodeId: 'node-b', listen: null, features: [HAVE_UPDATES_FEATURE] });
    const updates: unknown[] = [];
    conn.onHaveUpdate((fileId, indexes) => updates.push({ fileId, indexes }));
    const fileId = 'cd'.repeat(32);
    const have = conn.have(fileId);
    await raw.frame((x) => x.type === MsgType.HAVE_REQUEST);
    raw.send(MsgType.HAVE, { fileId, chunkCount: 10, bitfield: Buffer.alloc(2).toString('base64') });
    await have;
    return { raw, conn, fileId, updates, close: () => srv.close() };
  }

  it('an update for a file never asked about is ignored; valid ones reach the listener', async () => {
    const { raw, conn, fileId, updates, close } = await facingRawHolder();
    raw.send(MsgType.HAVE_UPDATE, { fileId: 'ef'.repeat(32), indexes: [99] });
    raw.send(MsgType.HAVE_UPDATE, { fileId, indexes: [9, 0] });
    // Frames are handled in order: once the second arrived, the first was read (and dropped).
    while (updates.length === 0) await new Promise((r) => setTimeout(r, 5));
    expect(updates).toEqual([{ fileId, indexes: [9, 0] }]);
    expect(conn.state).toBe('open');
    close();
  });

  it('a malformed update is a PROTOCOL error that closes only that connection, and reaches no listener', async () => {
    const cases: Array<[object, RegExp]> = [
      [{ indexes: [10] }, /malformed HAVE_UPDATE: chunk index 10 is past the 10 chunks of file/],
      [{ indexes: [] }, /malformed HAVE_UPDATE/],
      [{ indexes: [-1] }, /malformed HAVE_UPDATE/],
      [{ indexes: [1.5] }, /malformed HAVE_UPDATE/],
      [{ indexes: 'all' }, /malformed HAVE_UPDATE/],
      [{ indexes: Array.from({ length: 1025 }, () => 1) }, /malformed HAVE_UPDATE: .*at most 1024 chunk indexes/],
    ];
    for (const [body, reason] of cases) {
      const { raw, conn, fileId, updates, close } = await facingRawHolder();
      raw.send(MsgType.HAVE_UPDATE, { fileId, ...body } as never);
      const e = await raw.fatalError();
      expect(e.code).toBe('PROTOCOL');
      expect(e.message).toMatch(reason);
      expect(await conn.closed).toMatch(/PROTOCOL/);
      expect(updates).toEqual([]);
      close();
    }
  });
});
