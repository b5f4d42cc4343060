import type { Socket } from 'node:net';
import {
  DEFAULT_WRITE_QUEUE_BYTES,
  MAX_WHOLE_MANIFEST_HASHES,
  MAX_CONTROL_FRAME,
  MIN_CHUNK_SIZE,
  type Manifest,
  MsgType,
  PROTOCOL_VERSION,
  PeerConnection,
  type PeerConnectionOptions,
  computeFileId,
  encodeControl,
  idleVerdict,
} from '@swarmshare/common';
import { MemoryHandler, makeFile, socketPair } from '../../../test/memory-handler';
import { RawPeer } from '../../../test/raw-peer';

/**
 * The serving side's per-connection bounds on a real socket pair: the bounded write queue for
 * control frames (a peer that never reads is cut off) and the idle timeout after HELLO.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A manifest of the most chunks one MANIFEST frame carries whole (hashes made up): about 940 KB, near the largest control frame. */
function bigManifest(): Manifest {
  const hashes = Array.from({ length: MAX_WHOLE_MANIFEST_HASHES }, (_, i) => i.toString(16).padStart(64, '0'));
  const size = MAX_WHOLE_MANIFEST_HASHES * MIN_CHUNK_SIZE;
  return { fileId: computeFileId(size, MIN_CHUNK_SIZE, hashes), name: 'big.bin', size, chunkSize: MIN_CHUNK_SIZE, hashes };
}

/** A server-side connection on `sock` serving `handler`, like the gateway's accepted ones. */
function serve(sock: Socket, handler: MemoryHandler, opts: Partial<PeerConnectionOptions> = {}): PeerConnection {
  return new PeerConnection(sock, { nodeId: 'srv', listen: null, handler, ...opts });
}

/** Raw HELLO bytes of a client, written without reading anything back. */
const hello = (nodeId = 'cli-raw') => encodeControl(MsgType.HELLO, { version: PROTOCOL_VERSION, nodeId, listen: null, features: [] });

describe('ConnectionCore: bounded write queue for control frames', () => {
  const manifest = bigManifest();
  const handler = new MemoryHandler();
  handler.add(manifest);

  /**
   * The peer asks for the big manifest again and again and never reads a byte. The queue of
   * unflushed control bytes never passes the limit; once the kernel's buffers are full, the
   * connection is dropped.
   */
  async function neverReads(maxWriteQueueBytes?: number): Promise<{ queued: number; refused: number; batches: number }> {
    const p = await socketPair();
    p.a.pause(); // the peer never reads
    const server = serve(p.b, handler, { maxWriteQueueBytes });
    p.a.write(hello());
    let batches = 0;
    let id = 1;
    while (server.state !== 'closed' && batches < 60) {
      // Eight at a time, well under the in-flight limit; the handler answers each at once.
      for (let k = 0; k < 8; k++) p.a.write(encodeControl(MsgType.MANIFEST_REQUEST, { id: id++, fileId: manifest.fileId }));
      batches++;
      await sleep(20);
    }
    await server.closed;
    expect(p.b.destroyed).toBe(true);
    p.close();
    // The reason states what was queued when the frame that did not fit came.
    const m = /^the peer does not read: (\d+) bytes of control frames are queued for it and (\d+) more would pass the (\d+)-byte limit \(PEER_WRITE_QUEUE_BYTES\)$/.exec(server.closeReason ?? '');
    expect(m).not.toBeNull();
    expect(Number(m![3])).toBe(maxWriteQueueBytes ?? DEFAULT_WRITE_QUEUE_BYTES);
    return { queued: Number(m![1]), refused: Number(m![2]), batches };
  }

  it('drops a peer that never reads once PEER_WRITE_QUEUE_BYTES of answers are queued, never holding more', async () => {
    const { queued, refused } = await neverReads(MAX_CONTROL_FRAME);
    expect(queued).toBeLessThanOrEqual(MAX_CONTROL_FRAME);
    expect(queued + refused).toBeGreaterThan(MAX_CONTROL_FRAME);
  });

  it('applies the default limit (4 MiB) when none is given', async () => {
    const { queued, batches } = await neverReads();
    expect(queued).toBeLessThanOrEqual(DEFAULT_WRITE_QUEUE_BYTES);
    expect(queued).toBeGreaterThan(DEFAULT_WRITE_QUEUE_BYTES - MAX_CONTROL_FRAME);
    // A few batches (~7.5 MB each) asked for: the kernel's buffers plus the queue hold what was answered.
    expect(batches).toBeLessThan(10);
  });

  it('a peer that reads gets every answer, big ones included, and stays connected', async () => {
    const p = await socketPair();
    const server = serve(p.b, handler);
    const client = new PeerConnection(p.a, { nodeId: 'cli-reader', listen: null });
    await client.ready;
    const got = await Promise.all([1, 2, 3].map(() => client.manifest(manifest.fileId)));
    expect(got.map((m) => m.hashes.length)).toEqual([MAX_WHOLE_MANIFEST_HASHES, MAX_WHOLE_MANIFEST_HASHES, MAX_WHOLE_MANIFEST_HASHES]);
    expect(server.state).toBe('open');
    expect(server.queuedControl).toBe(0);
    client.close();
    await server.closed;
    p.close();
  });

  it('refuses a limit below one control frame', async () => {
    const p = await socketPair();
    expect(() => serve(p.b, handler, { maxWriteQueueBytes: MAX_CONTROL_FRAME - 1 })).toThrow(/at least 1048581/);
    p.close();
  });
});

describe('ConnectionCore: idle timeout after HELLO', () => {
  const IDLE = 300;

  it('the verdict: unflushed bytes mean a stalled reader, an open request a busy link, nothing an idle one', () => {
    expect(idleVerdict({ unflushedBytes: 1, owedAnswers: 3, awaitedAnswers: 0 })).toBe('stalled');
    expect(idleVerdict({ unflushedBytes: 0, owedAnswers: 1, awaitedAnswers: 0 })).toBe('busy');
    expect(idleVerdict({ unflushedBytes: 0, owedAnswers: 0, awaitedAnswers: 2 })).toBe('busy');
    expect(idleVerdict({ unflushedBytes: 0, owedAnswers: 0, awaitedAnswers: 0 })).toBe('idle');
  });

  it('closes a connection silent after HELLO with a fatal TIMEOUT saying why', async () => {
    const p = await socketPair();
    const server = serve(p.b, new MemoryHandler(), { idleTimeoutMs: IDLE });
    const raw = new RawPeer(p.a);
    const t0 = Date.now();
    raw.hello();
    expect(await raw.fatalError()).toMatchObject({ code: 'TIMEOUT', message: `idle for ${IDLE} ms after HELLO (PEER_IDLE_TIMEOUT_MS): nothing asked, nothing sent` });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(IDLE - 20);
    expect(server.state).toBe('closed');
    await raw.waitClosed();
    p.close();
  });

  it('a peer that keeps asking stays connected; once it stops, the timeout runs from its last request', async () => {
    const p = await socketPair();
    const f = makeFile(2 * MIN_CHUNK_SIZE);
    const handler = new MemoryHandler();
    handler.add(f.manifest, f.data);
    const server = serve(p.b, handler, { idleTimeoutMs: IDLE });
    const client = new PeerConnection(p.a, { nodeId: 'cli-busy', listen: null });
    await client.ready;
    let stopped = 0;
    for (let i = 0; i < 8; i++) {
      await client.have(f.manifest.fileId);
      stopped = Date.now();
      await sleep(IDLE / 3);
    }
    expect(server.state).toBe('open'); // 8 x 100 ms: well past one timeout, never idle for one
    expect(await client.closed).toMatch(/TIMEOUT: idle for 300 ms/);
    expect(Date.now() - stopped).toBeGreaterThanOrEqual(IDLE - 20);
    p.close();
  });

  it('waits while it owes the peer an answer (a lease that takes long), however long', async () => {
    const p = await socketPair();
    const f = makeFile(MIN_CHUNK_SIZE);
    const handler = new MemoryHandler();
    handler.add(f.manifest, f.data);
    let open!: () => void;
    handler.readGate = new Promise((r) => (open = r));
    const server = serve(p.b, handler, { idleTimeoutMs: IDLE });
    const client = new PeerConnection(p.a, { nodeId: 'cli-patient', listen: null });
    await client.ready;
    const chunk = client.requestChunk(f.manifest.fileId, 0, Buffer.alloc(MIN_CHUNK_SIZE));
    await sleep(4 * IDLE);
    expect(server.state).toBe('open');
    open();
    expect(await chunk).toBe(MIN_CHUNK_SIZE);
    // Answered, and now nothing is asked: idle again.
    expect(await server.closed).toMatch(/^TIMEOUT: idle/);
    p.close();
  });

  it('drops a peer that asked for a chunk and never reads it', async () => {
    const p = await socketPair();
    // One 16 MiB chunk: more than the kernel's socket buffers take, so our write stays pending.
    const f = makeFile(16 * 1024 * 1024, 16 * 1024 * 1024);
    const handler = new MemoryHandler();
    handler.add(f.manifest, f.data);
    const server = serve(p.b, handler, { idleTimeoutMs: IDLE });
    p.a.pause();
    p.a.write(Buffer.concat([hello(), encodeControl(MsgType.REQUEST, { id: 1, fileId: f.manifest.fileId, index: 0 })]));
    expect(await server.closed).toMatch(new RegExp(`^the peer read nothing for ${IDLE} ms with \\d+ bytes waiting for it \\(PEER_IDLE_TIMEOUT_MS\\)$`));
    expect(p.b.destroyed).toBe(true);
    // The read lease went back.
    await sleep(50);
    expect(handler.openReads).toBe(0);
    p.close();
  });

  it('a connection exempted (an overlay link) stays open however quiet', async () => {
    const p = await socketPair();
    const server = serve(p.b, new MemoryHandler(), { idleTimeoutMs: IDLE });
    server.whenOpen(() => server.exemptFromIdleTimeout());
    const client = new PeerConnection(p.a, { nodeId: 'cli-quiet', listen: null });
    await client.ready;
    await sleep(3 * IDLE);
    expect(server.state).toBe('open');
    client.close();
    p.close();
  });
});

describe('ConnectionCore.whenOpen', () => {
  it("runs on the peer's HELLO, before a frame sent right behind it is handled", async () => {
    const p = await socketPair();
    const order: string[] = [];
    const server = new PeerConnection(p.b, {
      nodeId: 'srv',
      listen: null,
      features: ['discovery'],
      discovery: { neighbours: () => (order.push('neighbours'), []), onQuery: () => undefined, onQueryHit: async () => undefined },
    });
    server.whenOpen((h) => order.push(`open ${h.nodeId}`));
    const raw = new RawPeer(p.a);
    // HELLO and a request in one write: one read on the server side.
    raw.write(Buffer.concat([hello('cli-eager'), encodeControl(MsgType.NEIGHBOURS_REQUEST, { id: 1 })]));
    await raw.frame((f) => f.type === MsgType.NEIGHBOURS);
    expect(order).toEqual(['open cli-eager', 'neighbours']);
    // Registered once open: runs at once.
    server.whenOpen(() => order.push('late'));
    expect(order.at(-1)).toBe('late');
    server.close();
    p.close();
  });
});
