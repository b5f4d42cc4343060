import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';

/**
 * SHA-256 of whole chunks on a worker thread. Hashing every received byte on the event loop took a
 * quarter of the fetching gateway's CPU, and that loop also reads the socket: on a 2-core machine the
 * hash runs better beside it. The chunk sits in a SharedArrayBuffer, so nothing is copied across.
 *
 * If the worker dies, its pending digests and all later ones are hashed on the calling thread, so a
 * download never waits on a hasher that is gone.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
parentPort.on('message', ({ id, sab, length }) => {
  parentPort.postMessage({ id, hex: createHash('sha256').update(new Uint8Array(sab, 0, length)).digest('hex') });
});
`;

interface Pending {
  chunk: Buffer;
  resolve: (hex: string) => void;
}

export class ChunkHasher {
  private worker?: Worker;
  /** Set once the worker has failed or been closed: from then on digests are computed here. */
  private stopped = false;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;

  /** The worker starts with the first digest, so a gateway that only serves never runs one. */
  private startWorker(): Worker {
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.on('message', ({ id, hex }: { id: number; hex: string }) => {
      const p = this.pending.get(id);
      if (!p) return;
      this.pending.delete(id);
      p.resolve(hex);
    });
    const gone = (): void => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      this.stopped = true;
      for (const p of this.pending.values()) p.resolve(hashHere(p.chunk));
      this.pending.clear();
    };
    worker.on('error', gone);
    worker.on('exit', gone);
    worker.unref(); // idle hashing must not keep a stopping process alive
    this.worker = worker;
    return worker;
  }

  /** Hex SHA-256 of `chunk`, which must be a view from offset 0 of a SharedArrayBuffer and stay unchanged until this settles. */
  digest(chunk: Buffer): Promise<string> {
    const sab = chunk.buffer;
    if (this.stopped || !(sab instanceof SharedArrayBuffer) || chunk.byteOffset !== 0) return Promise.resolve(hashHere(chunk));
    const worker = (this.worker ??= this.startWorker());
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, { chunk, resolve });
      worker.postMessage({ id, sab, length: chunk.length });
    });
  }

  /** Digests still on the worker (for tests and metrics). */
  get inFlight(): number {
    return this.pending.size;
  }

  async close(): Promise<void> {
    this.stopped = true;
    const w = this.worker;
    if (!w) return;
    await w.terminate(); // 'exit' hashes whatever was pending here
  }
}

function hashHere(chunk: Buffer): string {
  return createHash('sha256').update(chunk).digest('hex');
}
