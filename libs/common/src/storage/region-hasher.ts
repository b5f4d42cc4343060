import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { readFullyAt } from './file-hasher';

/**
 * A hashing thread: pread the region into a buffer it reuses, hash it, answer with the hex digest.
 * Run with eval, so it needs no file beside the compiled code.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { openSync, readSync, closeSync } = require('node:fs');
const { createHash } = require('node:crypto');
let buf = Buffer.alloc(0);
parentPort.on('message', ({ id, path, offset, length }) => {
  try {
    if (buf.length < length) buf = Buffer.allocUnsafe(length);
    const fd = openSync(path, 'r');
    try {
      let got = 0;
      while (got < length) {
        const n = readSync(fd, buf, got, length - got, offset + got);
        if (n === 0) return parentPort.postMessage({ id, short: length - got });
        got += n;
      }
    } finally {
      closeSync(fd);
    }
    parentPort.postMessage({ id, hex: createHash('sha256').update(buf.subarray(0, length)).digest('hex') });
  } catch (e) {
    parentPort.postMessage({ id, error: e.message });
  }
});
`;

/** The file ends before the region does: its bytes are not all there (a scrub counts that as corrupt). */
export class ShortRegionError extends Error {}

interface Job {
  path: string;
  offset: number;
  length: number;
  resolve: (hex: string) => void;
  reject: (e: Error) => void;
}

/**
 * SHA-256 of a region of a file, read with pread and hashed on worker threads. This is how the
 * chunk-store checks the bytes it holds: through a fresh mmap every page costs a fault, and
 * WebCrypto copies its input first, which together cost 2.2 CPU-s per GiB against 0.85 for
 * pread + createHash (measured in docs/performance.md). The event loop, which serves the store's
 * NATS requests, only posts the job.
 *
 * If a thread dies, its jobs and every later one are hashed on the calling thread (async reads),
 * so a close never waits on a thread that is gone.
 */
export class RegionHasher {
  private readonly workers: Array<{ worker: Worker; jobs: Map<number, Job> }> = [];
  private stopped = false;
  private nextId = 0;

  /** Threads start with the first digest, so a store that never verifies runs none. */
  constructor(private readonly threads = Math.min(2, availableParallelism())) {}

  /** Hex SHA-256 of `length` bytes of `path` from `offset`; rejects if the file is shorter. */
  digest(path: string, offset: number, length: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const job: Job = { path, offset, length, resolve, reject };
      if (this.stopped) return void hashHere(job);
      const slot = this.leastBusy();
      const id = this.nextId++;
      slot.jobs.set(id, job);
      slot.worker.postMessage({ id, path, offset, length });
    });
  }

  /** Digests waiting on the threads (for tests). */
  get inFlight(): number {
    return this.workers.reduce((n, w) => n + w.jobs.size, 0);
  }

  async close(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.workers.map((w) => w.worker.terminate())); // 'exit' hashes what was pending here
  }

  private leastBusy(): { worker: Worker; jobs: Map<number, Job> } {
    if (this.workers.length < Math.max(1, this.threads)) {
      const idle = this.workers.find((w) => w.jobs.size === 0);
      if (idle) return idle;
      return this.start();
    }
    return this.workers.reduce((a, b) => (b.jobs.size < a.jobs.size ? b : a));
  }

  private start(): { worker: Worker; jobs: Map<number, Job> } {
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    const slot = { worker, jobs: new Map<number, Job>() };
    worker.on('message', ({ id, hex, error, short }: { id: number; hex?: string; error?: string; short?: number }) => {
      const job = slot.jobs.get(id);
      if (!job) return;
      slot.jobs.delete(id);
      if (short !== undefined) job.reject(shortError(job, short));
      else if (error !== undefined) job.reject(new Error(`cannot hash ${job.length} bytes at ${job.offset} of ${job.path}: ${error}`));
      else job.resolve(hex!);
    });
    const gone = (): void => {
      const i = this.workers.indexOf(slot);
      if (i < 0) return;
      this.workers.splice(i, 1);
      this.stopped = true;
      for (const job of slot.jobs.values()) hashHere(job);
      slot.jobs.clear();
    };
    worker.on('error', gone);
    worker.on('exit', gone);
    worker.unref(); // idle hashing threads must not keep a stopping process alive
    this.workers.push(slot);
    return slot;
  }
}

function hashHere(job: Job): void {
  void (async () => {
    const fh = await fs.open(job.path, 'r');
    try {
      const buf = Buffer.allocUnsafe(job.length);
      const got = await readFullyAt(fh, buf, job.length, job.offset);
      if (got < job.length) throw shortError(job, job.length - got);
      return createHash('sha256').update(buf).digest('hex');
    } finally {
      await fh.close();
    }
  })().then(job.resolve, (e: Error) => job.reject(e instanceof ShortRegionError ? e : new Error(`cannot hash ${job.length} bytes at ${job.offset} of ${job.path}: ${e.message}`)));
}

function shortError(job: Job, missing: number): ShortRegionError {
  return new ShortRegionError(`${job.path} ends ${missing} bytes short of the ${job.length}-byte region at ${job.offset}`);
}
