/** One staging buffer lent out: `chunk` is the view the writer fills (offset 0 of a SharedArrayBuffer). */
export interface Staged {
  chunk: Buffer;
  /** Hand the buffer back; the caller must not touch `chunk` afterwards. */
  release(): void;
}

/**
 * Whole-chunk buffers that a download fills as PIECE bytes arrive. Once full, the chunk is pwritten
 * on the thread pool in one call.
 *
 * The pool is bounded by bytes. When it is spent (the disk behind), take() returns nothing and
 * the writer falls back to the slower path on the event loop, which slows the socket: backpressure.
 */
export class ChunkStaging {
  private readonly free: SharedArrayBuffer[] = [];
  private allocated = 0;

  constructor(private readonly budgetBytes = 48 * 1024 * 1024) {}

  take(length: number): Staged | undefined {
    if (length <= 0 || length > this.budgetBytes) return undefined;
    let i = this.free.findIndex((b) => b.byteLength >= length);
    // Chunk sizes differ between files: make room by dropping free buffers that are too small.
    while (i < 0 && this.allocated + length > this.budgetBytes && this.free.length > 0) {
      this.allocated -= this.free.pop()!.byteLength;
    }
    let sab: SharedArrayBuffer;
    if (i >= 0) {
      sab = this.free.splice(i, 1)[0];
    } else if (this.allocated + length <= this.budgetBytes) {
      sab = new SharedArrayBuffer(length);
      this.allocated += length;
    } else {
      return undefined;
    }
    let released = false;
    return {
      chunk: Buffer.from(sab, 0, length),
      release: () => {
        if (released) return;
        released = true;
        this.free.push(sab);
      },
    };
  }

  /** Bytes held by the pool, lent out or free. */
  get allocatedBytes(): number {
    return this.allocated;
  }

  get freeBuffers(): number {
    return this.free.length;
  }
}
