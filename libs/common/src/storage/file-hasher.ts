import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { chunkCount } from '../file-id';

/** What hashFileOnce computed from the bytes it read. */
export interface FileHashes {
  size: number;
  /** SHA-256 of each chunk, in order. */
  chunkHashes: string[];
  /** SHA-256 of the whole content, when asked for. */
  contentHash?: string;
}

/** Below this, threads cost more to start than they save: hash on the calling thread. */
const INLINE_BELOW = 32 * 1024 * 1024;
/** The whole-content hash reads in blocks of this size. */
const WHOLE_BLOCK = 4 * 1024 * 1024;

/**
 * A worker's job (run with eval, so it needs no file beside the compiled code): read its chunk
 * range of one file with pread and hash each chunk, or (whole) hash the content in order.
 */
const WORKER_SOURCE = `
const { parentPort, workerData: w } = require('node:worker_threads');
const { openSync, readSync, closeSync } = require('node:fs');
const { createHash } = require('node:crypto');
const fd = openSync(w.path, 'r');
try {
  const buf = Buffer.allocUnsafe(w.whole ? ${WHOLE_BLOCK} : w.chunkSize);
  const readAt = (pos, len) => {
    let got = 0;
    while (got < len) {
      const n = readSync(fd, buf, got, len - got, pos + got);
      if (n === 0) throw new Error('the file shrank while it was hashed');
      got += n;
    }
    return buf.subarray(0, len);
  };
  if (w.whole) {
    const h = createHash('sha256');
    for (let pos = 0; pos < w.size; pos += buf.length) h.update(readAt(pos, Math.min(buf.length, w.size - pos)));
    parentPort.postMessage({ whole: h.digest('hex') });
  } else {
    const out = [];
    for (let i = w.from; i < w.to; i++) {
      const pos = i * w.chunkSize;
      out.push(createHash('sha256').update(readAt(pos, Math.min(w.chunkSize, w.size - pos))).digest('hex'));
    }
    parentPort.postMessage({ hashes: out });
  }
} finally {
  closeSync(fd);
}
`;

function runWorker<T>(data: Record<string, unknown>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const w = new Worker(WORKER_SOURCE, { eval: true, workerData: data });
    let result: T | undefined;
    w.once('message', (m: T) => (result = m));
    w.once('error', reject);
    w.once('exit', (code) => (result !== undefined ? resolve(result) : reject(new Error(`hashing thread stopped (exit ${code})`))));
  });
}

/**
 * Hash a file once: every chunk's SHA-256 and (optionally) the whole content's, each byte read
 * from the page cache by the thread that hashes it. Large files are split over the machine's cores
 * (one thread keeps the whole-content hash, the others share the chunks), so the wall time is about
 * one SHA-256 pass even when two digests are wanted.
 */
export async function hashFileOnce(path: string, chunkSize: number, opts: { contentHash?: boolean; threads?: number } = {}): Promise<FileHashes> {
  const { size } = await fs.stat(path);
  const count = chunkCount(size, chunkSize);
  if (size < INLINE_BELOW) return hashInline(path, size, chunkSize, count, opts.contentHash === true);
  const threads = Math.max(1, opts.threads ?? Math.min(4, availableParallelism()));
  // With a whole-content hash, it takes one thread and the chunk hashes share the rest (at least one).
  const chunkThreads = Math.max(1, opts.contentHash ? threads - 1 : threads);
  const per = Math.ceil(count / chunkThreads);
  const parts: Array<Promise<{ hashes: string[] }>> = [];
  for (let from = 0; from < count; from += per) parts.push(runWorker({ path, size, chunkSize, from, to: Math.min(count, from + per) }));
  const whole = opts.contentHash ? runWorker<{ whole: string }>({ path, size, whole: true }) : undefined;
  const [chunks, w] = await Promise.all([Promise.all(parts), whole]);
  return { size, chunkHashes: chunks.flatMap((c) => c.hashes), ...(w ? { contentHash: w.whole } : {}) };
}

async function hashInline(path: string, size: number, chunkSize: number, count: number, wantWhole: boolean): Promise<FileHashes> {
  const fh = await fs.open(path, 'r');
  try {
    const whole = wantWhole ? createHash('sha256') : undefined;
    const chunkHashes: string[] = [];
    const buf = Buffer.allocUnsafe(Math.min(chunkSize, Math.max(size, 1)));
    for (let i = 0; i < count; i++) {
      const pos = i * chunkSize;
      const want = Math.min(chunkSize, size - pos);
      if ((await readFullyAt(fh, buf, want, pos)) < want) throw new Error(`${path} shrank while it was hashed`);
      const chunk = buf.subarray(0, want);
      whole?.update(chunk);
      chunkHashes.push(createHash('sha256').update(chunk).digest('hex'));
    }
    return { size, chunkHashes, ...(whole ? { contentHash: whole.digest('hex') } : {}) };
  } finally {
    await fh.close();
  }
}

/** A hashing thread of a HashPool: hashes each buffer it is handed and hands it back. */
const POOL_WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
parentPort.on('message', ({ id, buf }) => {
  const hex = createHash('sha256').update(new Uint8Array(buf)).digest('hex');
  parentPort.postMessage({ id, hex, buf }, [buf]);
});
`;

/**
 * SHA-256 of buffers on other threads, so a streaming pass (read, hash, write) keeps reading and
 * writing on the main thread while the cores hash. A buffer is moved to the thread (not copied) and
 * moved back with its digest: the caller must use the returned Buffer, not the one it passed.
 */
export class HashPool {
  private readonly workers: Worker[] = [];
  private readonly waiting = new Map<number, { resolve: (r: { hex: string; data: Buffer }) => void; reject: (e: Error) => void }>();
  private next = 0;

  constructor(threads = Math.min(4, availableParallelism())) {
    for (let i = 0; i < Math.max(1, threads); i++) {
      const w = new Worker(POOL_WORKER_SOURCE, { eval: true });
      w.on('message', ({ id, hex, buf }: { id: number; hex: string; buf: ArrayBuffer }) => {
        const p = this.waiting.get(id);
        this.waiting.delete(id);
        p?.resolve({ hex, data: Buffer.from(buf) });
      });
      w.on('error', (e) => this.failAll(e));
      w.unref();
      this.workers.push(w);
    }
  }

  /** The digest of `data` (a Buffer that owns its whole ArrayBuffer is moved, any other is copied first). */
  hash(data: Buffer): Promise<{ hex: string; data: Buffer }> {
    // A small Buffer is a slice of Node's shared pool: copy it into an ArrayBuffer of its own.
    const owned = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : Buffer.from(Uint8Array.from(data).buffer);
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      const buf = owned.buffer as ArrayBuffer;
      this.workers[id % this.workers.length].postMessage({ id, buf }, [buf]);
    });
  }

  async close(): Promise<void> {
    this.failAll(new Error('the hashing pool was closed'));
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private failAll(e: Error): void {
    for (const p of this.waiting.values()) p.reject(e);
    this.waiting.clear();
  }
}

/** Read `length` bytes at `position` into `buf`, looping over short reads; fewer only where the file ends. */
export async function readFullyAt(fh: fs.FileHandle, buf: Buffer, length: number, position: number): Promise<number> {
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}
