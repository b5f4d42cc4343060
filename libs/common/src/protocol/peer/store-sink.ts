import { SwarmError } from '../../errors';
import type { DataSink } from '../codec';
import { type WriteRegion, writeIntoRegion, writeRegionLength } from './peer-handler';

export interface StoreSinkIo {
  /** Stop reading the socket: slices are piling up before the lease arrived. */
  pause(): void;
  resume(): void;
  /** The STORE is over: undefined = stored and verified, else the reason it was not. */
  finish(err?: unknown): void;
}

/**
 * Receives a pushed chunk (a STORE data frame). Unlike a PIECE, the write lease cannot be taken
 * before the bytes start arriving, so slices that come before it are copied and held, and the
 * socket is paused meanwhile: what is held is bounded by what was already read, at most one chunk.
 * Once the lease arrives everything goes straight into the mapped region.
 */
export class StoreSink implements DataSink {
  private held: Buffer[] = [];
  private received = 0;
  private region?: WriteRegion;
  private error?: unknown;
  private ended = false;
  private finished = false;
  private aborted = false;
  private paused = false;

  constructor(
    private readonly length: number,
    open: Promise<WriteRegion>,
    private readonly io: StoreSinkIo,
  ) {
    open.then(
      (r) => this.onRegion(r),
      (e) => this.onFailed(e),
    );
  }

  write(slice: Buffer): void {
    const at = this.received;
    this.received += slice.length;
    if (this.error !== undefined || this.aborted) return;
    if (this.region) {
      writeIntoRegion(this.region, slice, at);
      return;
    }
    // The slice is a view on a socket buffer: keep a copy.
    this.held.push(Buffer.from(slice));
    if (!this.paused) {
      this.paused = true;
      this.io.pause();
    }
  }

  end(): void {
    this.ended = true;
    void this.maybeFinish();
  }

  /** The connection died: give the lease back (now, or when it arrives). */
  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.held = [];
    if (this.region && !this.finished) void this.region.abandon();
    this.finished = true;
  }

  private onRegion(r: WriteRegion): void {
    if (this.aborted) {
      void r.abandon();
      return;
    }
    const length = writeRegionLength(r);
    if (length !== this.length) {
      this.error = new SwarmError('BAD_LENGTH', `STORE carried ${this.length} bytes but chunk is ${length} bytes long`);
      void r.abandon();
    } else {
      this.region = r;
      let at = 0;
      for (const b of this.held) {
        writeIntoRegion(r, b, at);
        at += b.length;
      }
    }
    this.held = [];
    this.unpause();
    void this.maybeFinish();
  }

  private onFailed(e: unknown): void {
    if (this.aborted) return;
    this.error = e;
    this.held = [];
    this.unpause();
    void this.maybeFinish();
  }

  private unpause(): void {
    if (!this.paused) return;
    this.paused = false;
    this.io.resume();
  }

  private async maybeFinish(): Promise<void> {
    if (!this.ended || this.finished || this.aborted) return;
    if (!this.region && this.error === undefined) return; // the lease is still on its way
    this.finished = true;
    if (this.error !== undefined) return this.io.finish(this.error);
    try {
      await this.region!.commit(this.received);
      this.io.finish();
    } catch (e) {
      this.io.finish(e);
    }
  }
}
