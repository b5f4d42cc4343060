import { write, writeSync } from 'node:fs';

/** Writes still on their way to one file region, and the first error among them. */
export class PendingWrites {
  private count = 0;
  private waiters: Array<() => void> = [];
  error?: Error;

  started(): void {
    this.count++;
  }

  finished(err?: Error | null): void {
    if (err && !this.error) this.error = err;
    if (--this.count > 0) return;
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves once every write started so far has finished (check `error` then). */
  drained(): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    return new Promise((r) => this.waiters.push(r));
  }
}

/**
 * pwrite off the event loop. A download's bytes arrive in one reused socket buffer and the kernel's
 * copy into the page cache (plus, on a VM, faulting in fresh pages) took a third of the fetching
 * gateway's event loop. Each slice is copied into a free slab (a memcpy, cheap) and written by the
 * libuv thread pool. The slabs are bounded: when none is free the disk is behind, and the slice is
 * written synchronously, which holds the event loop and so the socket: that is the backpressure.
 */
export class WriteBehind {
  private readonly free: Buffer[] = [];

  constructor(
    private readonly slabBytes = 256 * 1024,
    slabs = 32,
  ) {
    for (let i = 0; i < slabs; i++) this.free.push(Buffer.allocUnsafeSlow(slabBytes));
  }

  /** Write all of `slice` at `position` of `fd`; `pending` learns when it is done. */
  write(fd: number, slice: Buffer, position: number, pending: PendingWrites): void {
    const slab = slice.length <= this.slabBytes ? this.free.pop() : undefined;
    if (!slab) return writeFullySync(fd, slice, position);
    const copy = slab.subarray(0, slice.copy(slab));
    pending.started();
    writeFully(fd, copy, position).then(
      () => this.release(slab, pending),
      (err: Error) => this.release(slab, pending, err),
    );
  }

  private release(slab: Buffer, pending: PendingWrites, err?: Error): void {
    this.free.push(slab);
    pending.finished(err);
  }

  get freeSlabs(): number {
    return this.free.length;
  }
}

/** pwrite all of `bytes` at `position`, here (blocking the event loop). */
export function writeFullySync(fd: number, bytes: Buffer, position: number): void {
  for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
}

/** pwrite all of `bytes` at `position` on the thread pool. */
export function writeFully(fd: number, bytes: Buffer, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (done: number): void => {
      if (done >= bytes.length) return resolve();
      write(fd, bytes, done, bytes.length - done, position + done, (err, n) => (err ? reject(err) : step(done + n)));
    };
    step(0);
  });
}
