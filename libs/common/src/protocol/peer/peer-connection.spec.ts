import type { Socket } from 'node:net';
import {
  computeFileId,
  connectPeer,
  encodeControl,
  MANIFEST_PAGE_HASHES,
  MANIFEST_PAGES_FEATURE,
  manifestIsConsistent,
  MAX_WHOLE_MANIFEST_HASHES,
  sha256Hex,
  MAX_HAVE_REQUESTS_IN_FLIGHT,
  MAX_REQUESTS_IN_FLIGHT,
  MsgType,
  PeerClosedError,
  PeerConnection,
  PeerRequestError,
  SwarmError,
} from '@swarmshare/common';
import { MemoryHandler, listen, makeFile, socketPair } from '../../../test/memory-handler';
import { RawPeer } from '../../../test/raw-peer';

const CHUNK = 64 * 1024;

/** A PeerConnection served by a MemoryHandler on one end of a loopback pair, a client on the other. */
async function pair(handler = new MemoryHandler(), opts: { handshakeTimeoutMs?: number } = {}) {
  const p = await socketPair();
  const server = new PeerConnection(p.b, { nodeId: 'srv', listen: '127.0.0.1:1', handler, ...opts });
  const client = new PeerConnection(p.a, { nodeId: 'cli-unit', listen: null, ...opts });
  await Promise.all([server.ready, client.ready]);
  return { server, client, handler, close: p.close };
}

/** A PeerConnection (the server side) facing a RawPeer the test drives byte by byte. */
async function rawFacing(handler = new MemoryHandler(), opts: { handshakeTimeoutMs?: number } = {}) {
  let conn!: PeerConnection;
  const srv = await listen((s: Socket) => {
    conn = new PeerConnection(s, { nodeId: 'srv', listen: null, handler, ...opts });
  });
  const raw = await RawPeer.connect(srv.port);
  await raw.frame((f) => f.type === MsgType.HELLO);
  return { raw, conn: () => conn, handler, close: () => srv.close() };
}

describe('PeerConnection', () => {
  it('exchanges HELLO both ways and opens', async () => {
    const { server, client, close } = await pair();
    expect(server.state).toBe('open');
    expect(client.state).toBe('open');
    expect(client.remote).toMatchObject({ version: 1, nodeId: 'srv', listen: '127.0.0.1:1' });
    expect(server.remote).toMatchObject({ nodeId: 'cli-unit', listen: null });
    client.close();
    expect(await server.closed).toMatch(/closed by peer/);
    close();
  });

  it('fetches a manifest larger than one frame in pages (feature manifest-pages), and refuses it whole to an older peer', async () => {
    // 20,000 chunks: more than one MANIFEST frame holds (MAX_WHOLE_MANIFEST_HASHES), three pages.
    const count = 20_000;
    const hashes = Array.from({ length: count }, (_, i) => sha256Hex(Buffer.from(String(i))));
    const size = count * CHUNK;
    const big = { fileId: computeFileId(size, CHUNK, hashes), name: 'big.bin', size, chunkSize: CHUNK, hashes };
    const h = new MemoryHandler();
    h.add(big);
    const { client, server, close } = await pair(h);
    expect(client.remote?.features).toContain(MANIFEST_PAGES_FEATURE);
    expect(server.remote?.features).toContain(MANIFEST_PAGES_FEATURE);
    const got = await client.manifest(big.fileId);
    expect(got).toEqual(big);
    expect(manifestIsConsistent(got)).toBe(true);
    expect(count).toBeGreaterThan(MAX_WHOLE_MANIFEST_HASHES);
    // A peer without the feature asks for it whole: a clear refusal, and the connection stays open.
    const whole = client.ask('manifest', (id) => client.sendControl(MsgType.MANIFEST_REQUEST, { id, fileId: big.fileId }));
    await expect(whole).rejects.toMatchObject({ code: 'TOO_LARGE', message: expect.stringMatching(/20000 chunks.*in pages/) });
    expect(client.state).toBe('open');
    client.close();
    close();
  });

  it('closes on a MANIFEST_PAGE for a request never made, and refuses a page count over MANIFEST_PAGE_HASHES', async () => {
    const { raw, conn, close } = await rawFacing();
    raw.hello();
    await conn().ready;
    raw.send(MsgType.MANIFEST_PAGE, { id: 9, fileId: 'a'.repeat(64), name: 'x', size: 0, chunkSize: CHUNK, chunkCount: 0, from: 0, hashes: [] });
    expect(await raw.fatalError()).toMatchObject({ code: 'PROTOCOL', message: 'MANIFEST_PAGE for request id 9, which was never made' });
    close();
    const second = await rawFacing();
    second.raw.hello();
    await second.conn().ready;
    second.raw.send(MsgType.MANIFEST_REQUEST, { id: 1, fileId: 'a'.repeat(64), from: 0, count: MANIFEST_PAGE_HASHES + 1 });
    expect(await second.raw.fatalError()).toMatchObject({ code: 'PROTOCOL', message: expect.stringMatching(/malformed MANIFEST_REQUEST: count/) });
    second.close();
  });

  it('answers MANIFEST_REQUEST, HAVE_REQUEST and REQUEST from the handler', async () => {
    const f = makeFile(3 * CHUNK + 100);
    const h = new MemoryHandler();
    h.add(f.manifest, f.data, [0, 2, 3]);
    const { client, close } = await pair(h);
    expect(await client.manifest(f.manifest.fileId)).toEqual(f.manifest);
    const have = await client.have(f.manifest.fileId);
    expect(have.chunkCount).toBe(4);
    expect(have.bitfield.indexes()).toEqual([0, 2, 3]);
    const target = Buffer.alloc(100);
    expect(await client.requestChunk(f.manifest.fileId, 3, target)).toBe(100);
    expect(target.equals(f.chunk(3))).toBe(true);
    // Several at once, answered in order into their own targets.
    const targets = [Buffer.alloc(CHUNK), Buffer.alloc(CHUNK)];
    await Promise.all([client.requestChunk(f.manifest.fileId, 0, targets[0]), client.requestChunk(f.manifest.fileId, 2, targets[1])]);
    expect(targets[0].equals(f.chunk(0))).toBe(true);
    expect(targets[1].equals(f.chunk(2))).toBe(true);
    expect(h.openReads).toBe(0); // every read lease released
    close();
  });

  it('answers a request it cannot serve with a non-fatal ERROR{id}', async () => {
    const f = makeFile(2 * CHUNK);
    const h = new MemoryHandler();
    h.add(f.manifest, f.data, [0]);
    const { client, close } = await pair(h);
    await expect(client.requestChunk(f.manifest.fileId, 1, Buffer.alloc(CHUNK))).rejects.toMatchObject({ name: 'PeerRequestError', code: 'NOT_FOUND' });
    await expect(client.requestChunk(f.manifest.fileId, 9, Buffer.alloc(CHUNK))).rejects.toMatchObject({ code: 'OUT_OF_RANGE' });
    await expect(client.manifest('ab'.repeat(32))).rejects.toBeInstanceOf(PeerRequestError);
    // HAVE for an unknown file: an empty bitfield.
    expect((await client.have('ab'.repeat(32))).chunkCount).toBe(0);
    expect(client.state).toBe('open');
    expect(await client.requestChunk(f.manifest.fileId, 0, Buffer.alloc(CHUNK))).toBe(CHUNK);
    close();
  });

  it('takes pushed chunks with STORE_OFFER and STORE, verifying each', async () => {
    const f = makeFile(2 * CHUNK + 7);
    const h = new MemoryHandler();
    h.leaseDelayMs = 30; // bytes arrive before the lease: they are held, then copied
    const { client, close } = await pair(h);
    await client.offer(f.manifest);
    await Promise.all([0, 1, 2].map((i) => client.store(f.manifest.fileId, i, f.chunk(i))));
    expect(Buffer.concat(h.files.get(f.manifest.fileId)!.chunks as Buffer[]).equals(f.data)).toBe(true);
    expect(h.openWrites).toBe(0);
    close();
  });

  it('refuses a corrupt or mis-sized STORE without closing the connection', async () => {
    const f = makeFile(2 * CHUNK);
    const h = new MemoryHandler();
    const { client, close } = await pair(h);
    await client.offer(f.manifest);
    const bad = Buffer.from(f.chunk(0));
    bad[10] ^= 0xff;
    await expect(client.store(f.manifest.fileId, 0, bad)).rejects.toMatchObject({ code: 'HASH_MISMATCH' });
    await expect(client.store(f.manifest.fileId, 0, Buffer.alloc(100))).rejects.toMatchObject({ code: 'BAD_LENGTH' });
    await expect(client.store(f.manifest.fileId, 5, Buffer.alloc(100))).rejects.toMatchObject({ code: 'OUT_OF_RANGE' });
    await client.store(f.manifest.fileId, 0, f.chunk(0));
    expect(h.openWrites).toBe(0);
    // A manifest whose id does not match its content is refused.
    await expect(client.offer({ ...f.manifest, size: f.manifest.size - 1 })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    close();
  });

  it('CANCEL drops a queued request: it is answered with ERROR code CANCELLED', async () => {
    const f = makeFile(4 * CHUNK);
    const h = new MemoryHandler();
    h.add(f.manifest, f.data);
    let open!: () => void;
    h.readGate = new Promise<void>((r) => (open = r));
    const { client, close } = await pair(h);
    const reqs = [0, 1, 2, 3].map((i) => client.sendRequest(f.manifest.fileId, i, Buffer.alloc(CHUNK)));
    await new Promise((r) => setTimeout(r, 50));
    client.cancel(reqs[3].id);
    await expect(reqs[3].done).rejects.toMatchObject({ code: 'CANCELLED' });
    open();
    await expect(Promise.all(reqs.slice(0, 3).map((r) => r.done))).resolves.toEqual([CHUNK, CHUNK, CHUNK]);
    expect(h.openReads).toBe(0);
    close();
  });

  it('fails outstanding requests when the peer dies mid-transfer', async () => {
    const f = makeFile(2 * CHUNK);
    // A holder that sends half a PIECE and dies.
    const srv = await listen((s) => {
      const r = new RawPeer(s);
      r.hello('holder');
      void r.frame((x) => x.type === MsgType.REQUEST).then((req) => {
        const id = (req as { body: { id: number } }).body.id;
        const prefix = Buffer.alloc(9);
        prefix.writeUInt32BE(1 + 4 + CHUNK, 0);
        prefix.writeUInt8(MsgType.PIECE, 4);
        prefix.writeUInt32BE(id, 5);
        s.write(Buffer.concat([prefix, f.chunk(0).subarray(0, 1000)]), () => s.destroy());
      });
    });
    const conn = await connectPeer(`127.0.0.1:${srv.port}`, { nodeId: 'node-x', listen: null });
    const err = await conn.requestChunk(f.manifest.fileId, 0, Buffer.alloc(CHUNK)).catch((e) => e);
    expect(err).toBeInstanceOf(PeerClosedError);
    expect(conn.state).toBe('closed');
    await srv.close();
  });

  it('gives the read leases of queued requests back when the requester goes away', async () => {
    const f = makeFile(4 * CHUNK);
    const h = new MemoryHandler();
    h.add(f.manifest, f.data);
    let open!: () => void;
    h.readGate = new Promise<void>((r) => (open = r));
    const { raw, conn, close } = await rawFacing(h);
    raw.hello();
    for (let id = 0; id < 4; id++) raw.send(MsgType.REQUEST, { id, fileId: f.manifest.fileId, index: id });
    await new Promise((r) => setTimeout(r, 50));
    raw.destroy();
    await conn().closed;
    open(); // the leases granted now must go straight back
    await new Promise((r) => setTimeout(r, 50));
    expect(h.openReads).toBe(0);
    await close();
  });

  it('closes when the HELLO names another node than expected', async () => {
    const srv = await listen((s) => new PeerConnection(s, { nodeId: 'someone-else', listen: null }));
    await expect(connectPeer(`127.0.0.1:${srv.port}`, { nodeId: 'me', listen: null, expectNodeId: 'node-a' })).rejects.toBeInstanceOf(PeerClosedError);
    await srv.close();
  });

  it('answer order: PIECEs in REQUEST order; a CANCELLED answer may overtake an earlier PIECE', async () => {
    const f = makeFile(2 * CHUNK);
    const h = new MemoryHandler();
    h.add(f.manifest, f.data);
    let open!: () => void;
    h.readGate = new Promise<void>((r) => (open = r));
    const { raw, close } = await rawFacing(h);
    raw.hello();
    for (const id of [1, 2, 3]) raw.send(MsgType.REQUEST, { id, fileId: f.manifest.fileId, index: [0, 1, 0][id - 1] });
    raw.send(MsgType.CANCEL, { id: 3 });
    // Request 1 is not served yet (its read waits), and request 3's cancellation is answered already.
    const cancelled = await raw.frame((x) => x.type === MsgType.ERROR);
    expect((cancelled as { body: { id: number; code: string } }).body).toMatchObject({ id: 3, code: 'CANCELLED' });
    open();
    const first = await raw.frame((x) => x.type === MsgType.PIECE);
    const second = await raw.frame((x) => x.type === MsgType.PIECE && (x as { id: number }).id !== (first as { id: number }).id);
    expect([(first as { id: number }).id, (second as { id: number }).id]).toEqual([1, 2]);
    await close();
  });

  describe('protocol violations: fatal ERROR with the reason, then close', () => {
    it('nothing within the handshake timeout', async () => {
      const { raw, close } = await rawFacing(new MemoryHandler(), { handshakeTimeoutMs: 200 });
      expect(await raw.fatalError()).toMatchObject({ code: 'TIMEOUT', message: expect.stringMatching(/no HELLO within 200 ms/) });
      await raw.waitClosed();
      await close();
    });

    it('a request before HELLO', async () => {
      const { raw, close } = await rawFacing();
      raw.send(MsgType.HAVE_REQUEST, { fileId: 'ab'.repeat(32) });
      expect((await raw.fatalError()).message).toMatch(/expected HELLO first, got HAVE_REQUEST/);
      await raw.waitClosed();
      await close();
    });

    it('data before HELLO', async () => {
      const { raw, close } = await rawFacing();
      raw.piece(1, Buffer.alloc(10));
      expect((await raw.fatalError()).message).toMatch(/PIECE data frame before HELLO/);
      await raw.waitClosed();
      await close();
    });

    it('an unsupported version', async () => {
      const { raw, close } = await rawFacing();
      raw.hello('cli-x', 2);
      expect((await raw.fatalError()).message).toMatch(/unsupported protocol version 2/);
      await raw.waitClosed();
      await close();
    });

    it.each([
      ['00 00 00 00', Buffer.from([0, 0, 0, 0]), 'frame length 0'],
      ['ff ff ff ff', Buffer.from([0xff, 0xff, 0xff, 0xff]), 'frame length 4294967295 exceeds the longest frame of any type'],
    ])('a bare length %s: refused on its 4 bytes, no fifth byte needed', async (_, bytes, reason) => {
      const { raw, close } = await rawFacing();
      raw.hello();
      raw.write(bytes); // and nothing more: the peer must not wait for a type byte
      const err = await raw.fatalError();
      expect(err.code).toBe('PROTOCOL');
      expect(err.message).toContain(reason);
      await raw.waitClosed();
      await close();
    });

    it('a second HELLO, bad JSON, an unknown type, a huge length', async () => {
      const cases: Array<[Buffer, RegExp]> = [
        [encodeControl(MsgType.HELLO, { version: 1, nodeId: 'cli-x', listen: null, features: [] }), /HELLO sent twice/],
        [Buffer.concat([Buffer.from([0, 0, 0, 4, MsgType.REQUEST]), Buffer.from('{x}')]), /not JSON/],
        [Buffer.from([0, 0, 0, 1, 0x7e]), /unknown message type 0x7e/],
        [Buffer.from([0xff, 0xff, 0xff, 0xff, MsgType.MANIFEST]), /exceeds the limit/],
        [encodeControl(MsgType.REQUEST, { id: 1, fileId: 'nope', index: 0 } as never), /malformed REQUEST/],
      ];
      for (const [bytes, reason] of cases) {
        const { raw, close } = await rawFacing();
        raw.hello();
        raw.write(bytes);
        expect((await raw.fatalError()).message).toMatch(reason);
        await raw.waitClosed();
        await close();
      }
    });

    it(`more than ${MAX_REQUESTS_IN_FLIGHT} requests in flight`, async () => {
      const f = makeFile(CHUNK);
      const h = new MemoryHandler();
      h.add(f.manifest, f.data);
      h.readGate = new Promise(() => undefined); // never serves: requests pile up
      const { raw, close } = await rawFacing(h);
      raw.hello();
      const frames = Array.from({ length: MAX_REQUESTS_IN_FLIGHT + 1 }, (_, id) => encodeControl(MsgType.REQUEST, { id, fileId: f.manifest.fileId, index: 0 }));
      raw.write(Buffer.concat(frames));
      expect((await raw.fatalError()).message).toMatch(new RegExp(`more than ${MAX_REQUESTS_IN_FLIGHT} requests in flight`));
      await raw.waitClosed();
      await close();
    });

    it(`HAVE_REQUESTs count apart: with ${MAX_REQUESTS_IN_FLIGHT} REQUESTs in flight a HAVE_REQUEST is still answered`, async () => {
      const f = makeFile(CHUNK);
      const h = new MemoryHandler();
      h.add(f.manifest, f.data);
      h.readGate = new Promise(() => undefined); // REQUESTs stay in flight
      const { raw, conn, close } = await rawFacing(h);
      raw.hello();
      const frames = Array.from({ length: MAX_REQUESTS_IN_FLIGHT }, (_, id) => encodeControl(MsgType.REQUEST, { id, fileId: f.manifest.fileId, index: 0 }));
      raw.write(Buffer.concat([...frames, encodeControl(MsgType.HAVE_REQUEST, { fileId: f.manifest.fileId })]));
      const have = await raw.frame((x) => x.type === MsgType.HAVE);
      expect((have as { body: { chunkCount: number } }).body.chunkCount).toBe(1);
      expect(conn().state).toBe('open');
      // The numbered limit still holds.
      raw.send(MsgType.REQUEST, { id: MAX_REQUESTS_IN_FLIGHT, fileId: f.manifest.fileId, index: 0 });
      expect((await raw.fatalError()).message).toBe(`more than ${MAX_REQUESTS_IN_FLIGHT} requests in flight`);
      await close();
    });

    it(`more than ${MAX_HAVE_REQUESTS_IN_FLIGHT} HAVE_REQUESTs in flight`, async () => {
      const f = makeFile(CHUNK);
      class StuckHave extends MemoryHandler {
        override have(): never {
          return new Promise(() => undefined) as never; // never answers
        }
      }
      const h = new StuckHave();
      h.add(f.manifest, f.data);
      const { raw, close } = await rawFacing(h);
      raw.hello();
      const frames = Array.from({ length: MAX_HAVE_REQUESTS_IN_FLIGHT + 1 }, () => encodeControl(MsgType.HAVE_REQUEST, { fileId: f.manifest.fileId }));
      raw.write(Buffer.concat(frames));
      expect((await raw.fatalError()).message).toBe(`more than ${MAX_HAVE_REQUESTS_IN_FLIGHT} HAVE_REQUESTs in flight`);
      await raw.waitClosed();
      await close();
    });

    it('a request id reused while in flight', async () => {
      const f = makeFile(CHUNK);
      const h = new MemoryHandler();
      h.add(f.manifest, f.data);
      h.readGate = new Promise(() => undefined);
      const { raw, close } = await rawFacing(h);
      raw.hello();
      raw.send(MsgType.REQUEST, { id: 7, fileId: f.manifest.fileId, index: 0 });
      raw.send(MsgType.REQUEST, { id: 7, fileId: f.manifest.fileId, index: 0 });
      expect((await raw.fatalError()).message).toMatch(/request id 7 is already in flight/);
      await close();
    });

    it('a PIECE for a request never made, or of the wrong length', async () => {
      const f = makeFile(CHUNK);
      for (const mode of ['unknown', 'short'] as const) {
        let raw!: RawPeer;
        const srv = await listen((s) => {
          raw = new RawPeer(s);
          raw.hello('holder');
        });
        const conn = await connectPeer(`127.0.0.1:${srv.port}`, { nodeId: 'node-x', listen: null });
        const pending = conn.requestChunk(f.manifest.fileId, 0, Buffer.alloc(CHUNK)).catch((e) => e);
        const req = await raw.frame((x) => x.type === MsgType.REQUEST);
        const id = (req as { body: { id: number } }).body.id;
        if (mode === 'unknown') raw.piece(id + 100, Buffer.alloc(CHUNK));
        else raw.piece(id, Buffer.alloc(CHUNK - 1));
        const e = await raw.fatalError();
        expect(e.code).toBe('PROTOCOL');
        expect(e.message).toMatch(mode === 'unknown' ? /PIECE for request id \d+, which was never made/ : /carries 65535 bytes; the chunk is 65536 bytes/);
        expect(await pending).toBeInstanceOf(PeerClosedError);
        await raw.waitClosed();
        await srv.close();
      }
    });

    it('an answer (OK, MANIFEST, ERROR) to a request never made', async () => {
      let raw!: RawPeer;
      const srv = await listen((s) => {
        raw = new RawPeer(s);
        raw.hello('holder');
      });
      const conn = await connectPeer(`127.0.0.1:${srv.port}`, { nodeId: 'node-x', listen: null });
      raw.send(MsgType.OK, { id: 42 });
      expect((await raw.fatalError()).message).toMatch(/OK for request id 42, which was never made/);
      expect(await conn.closed).toMatch(/PROTOCOL/);
      await srv.close();
    });

    it('an answer of the wrong kind (OK to a REQUEST)', async () => {
      let raw!: RawPeer;
      const srv = await listen((s) => {
        raw = new RawPeer(s);
        raw.hello('holder');
      });
      const conn = await connectPeer(`127.0.0.1:${srv.port}`, { nodeId: 'node-x', listen: null });
      const pending = conn.requestChunk('ab'.repeat(32), 0, Buffer.alloc(10)).catch((e) => e);
      const req = await raw.frame((x) => x.type === MsgType.REQUEST);
      raw.send(MsgType.OK, { id: (req as { body: { id: number } }).body.id });
      expect((await raw.fatalError()).message).toMatch(/OK is not an answer to request/);
      expect(await pending).toBeInstanceOf(PeerClosedError);
      await srv.close();
    });
  });

  it('a client with no handler refuses requests politely', async () => {
    const p = await socketPair();
    const a = new PeerConnection(p.a, { nodeId: 'cli-a', listen: null });
    const b = new PeerConnection(p.b, { nodeId: 'cli-b', listen: null });
    await Promise.all([a.ready, b.ready]);
    await expect(a.requestChunk('ab'.repeat(32), 0, Buffer.alloc(1))).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(b.state).toBe('open');
    p.close();
  });

  it('will not exceed the in-flight limit itself', async () => {
    const f = makeFile(CHUNK);
    const h = new MemoryHandler();
    h.add(f.manifest, f.data);
    h.readGate = new Promise(() => undefined);
    const { client, close } = await pair(h);
    for (let i = 0; i < MAX_REQUESTS_IN_FLIGHT; i++) void client.requestChunk(f.manifest.fileId, 0, Buffer.alloc(CHUNK)).catch(() => undefined);
    expect(() => client.requestChunk(f.manifest.fileId, 0, Buffer.alloc(CHUNK))).toThrow(SwarmError);
    expect(client.state).toBe('open');
    close();
  });
});
