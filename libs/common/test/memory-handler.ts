import { createServer, connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { Bitfield, type Manifest, SwarmError, chunkCount, chunkLength, computeFileId, sha256Hex, MIN_CHUNK_SIZE } from '@swarmshare/common';
import type { PeerRequestHandler, ReadRegion, WriteRegion } from '@swarmshare/common';

/** A file made of random bytes, with its manifest. */
export function makeFile(size: number, chunkSize = MIN_CHUNK_SIZE, name = 'test.bin'): { manifest: Manifest; data: Buffer; chunk(i: number): Buffer } {
  const data = randomBytes(size);
  const hashes: string[] = [];
  for (let i = 0; i < chunkCount(size, chunkSize); i++) hashes.push(sha256Hex(data.subarray(i * chunkSize, i * chunkSize + chunkLength(size, chunkSize, i))));
  const manifest: Manifest = { fileId: computeFileId(size, chunkSize, hashes), name, size, chunkSize, hashes };
  return { manifest, data, chunk: (i) => data.subarray(i * chunkSize, i * chunkSize + chunkLength(size, chunkSize, i)) };
}

/**
 * The handler contract implemented over plain Buffers, for connection tests that need no
 * chunk-store. It verifies hashes on commit like the real store does, and counts open leases so
 * tests can check that every lease is given back.
 */
export class MemoryHandler implements PeerRequestHandler {
  readonly files = new Map<string, { manifest: Manifest; chunks: (Buffer | undefined)[] }>();
  openReads = 0;
  openWrites = 0;
  /** Delay before a lease is granted, to exercise queueing and held STORE bytes. */
  leaseDelayMs = 0;
  /** When set, read leases wait for this promise (a holder that never answers). */
  readGate?: Promise<void>;

  add(manifest: Manifest, data?: Buffer, present?: number[]): void {
    const chunks = manifest.hashes.map((_, i) => {
      if (!data || (present && !present.includes(i))) return undefined;
      const off = i * manifest.chunkSize;
      return Buffer.from(data.subarray(off, off + chunkLength(manifest.size, manifest.chunkSize, i)));
    });
    this.files.set(manifest.fileId, { manifest, chunks });
  }

  /** The local chunk-store a DownloadJob talks to, kept in this handler (create = offer, have = have). */
  asStore() {
    return {
      create: async (manifest: Manifest) => {
        await this.offer(manifest);
        return { ...manifest, chunkCount: manifest.hashes.length, chunksPresent: 0, state: 'partial' as const };
      },
      have: async (fileId: string) => ({ fileId, present: 0, ...(await this.have(fileId)) }),
    };
  }

  private file(fileId: string) {
    const f = this.files.get(fileId);
    if (!f) throw new SwarmError('NOT_FOUND', `file ${fileId.slice(0, 12)} is not here`);
    return f;
  }

  async have(fileId: string) {
    const f = this.file(fileId);
    const b = new Bitfield(f.chunks.length);
    f.chunks.forEach((c, i) => c && b.set(i));
    return { chunkCount: f.chunks.length, bitfield: b.toBase64() };
  }

  async manifest(fileId: string) {
    return this.file(fileId).manifest;
  }

  async openRead(fileId: string, index: number): Promise<ReadRegion> {
    if (this.readGate) await this.readGate;
    await delay(this.leaseDelayMs);
    const f = this.file(fileId);
    if (index >= f.chunks.length) throw new SwarmError('OUT_OF_RANGE', `chunk ${index} is out of range`);
    const c = f.chunks[index];
    if (!c) throw new SwarmError('NOT_FOUND', `chunk ${index} is not present`);
    this.openReads++;
    let released = false;
    return {
      data: c,
      release: async () => {
        if (!released) this.openReads--;
        released = true;
      },
    };
  }

  async offer(manifest: Manifest) {
    if (!this.files.has(manifest.fileId)) this.add(manifest);
  }

  async openWrite(fileId: string, index: number): Promise<WriteRegion> {
    await delay(this.leaseDelayMs);
    const f = this.file(fileId);
    const m = f.manifest;
    if (index >= f.chunks.length) throw new SwarmError('OUT_OF_RANGE', `chunk ${index} is out of range`);
    if (f.chunks[index]) throw new SwarmError('CONFLICT', `chunk ${index} is already present`);
    const data = Buffer.alloc(chunkLength(m.size, m.chunkSize, index));
    this.openWrites++;
    let closed = false;
    const close = () => {
      if (!closed) this.openWrites--;
      closed = true;
    };
    return {
      data,
      commit: async (written) => {
        close();
        if (written !== data.length) throw new SwarmError('BAD_LENGTH', `${written} of ${data.length} bytes written`);
        if (sha256Hex(data) !== m.hashes[index]) throw new SwarmError('HASH_MISMATCH', `chunk ${index} failed verification`);
        f.chunks[index] = data;
      },
      abandon: async () => close(),
    };
  }
}

/** Serves wrong bytes for every chunk (a corrupt disk, or a malicious peer); counts what it served. */
export class CorruptingHandler extends MemoryHandler {
  served = 0;

  override async openRead(fileId: string, index: number): Promise<ReadRegion> {
    const r = await super.openRead(fileId, index);
    const bad = Buffer.from(r.data);
    bad[0] ^= 0xff;
    this.served++;
    return { data: bad, release: r.release };
  }
}

function delay(ms: number): Promise<void> {
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
}

/** Two connected loopback sockets. */
export async function socketPair(): Promise<{ a: Socket; b: Socket; close(): void }> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const accepted = new Promise<Socket>((r) => server.once('connection', r));
  const a = connect({ port, host: '127.0.0.1' });
  await new Promise((r) => a.once('connect', r));
  const b = await accepted;
  server.close();
  return {
    a,
    b,
    close: () => {
      a.destroy();
      b.destroy();
    },
  };
}

/** A listening server whose sockets go to `onSocket`, for RawPeer tests against a PeerConnection. */
export async function listen(onSocket: (s: Socket) => void): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    onSocket(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
