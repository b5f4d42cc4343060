import { closeSync, openSync } from 'node:fs';
import { resolve, sep } from 'node:path';
import {
  Bitfield,
  type FileLayout,
  type Lease,
  type Logger,
  mapRegion,
  MappingRegistry,
  type ReadRegion,
  READ_BUFFER_BYTES,
  setNewest,
  SwarmError,
  type WriteRegion,
} from '@swarmshare/common';
import { ChunkStaging, type Staged } from './chunk-staging';
import type { ChunkStoreClient } from './chunk-store.client';
import { PendingWrites, WriteBehind, writeFully, writeFullySync } from './write-behind';
import { WriteLedger } from './write-ledger';

/** Files whose layout and read mappings are kept (the least recently served is forgotten first). */
const MAX_READABLE_FILES = 64;

/** A file this gateway serves from: where its bytes are, and which chunks it last heard are present. */
interface ReadableFile {
  layout: FileLayout;
  path: string;
  bits: Bitfield;
  /** When a chunk of it was last read here (ms): garbage collection evicts the least recently used. */
  usedAt?: number;
  /** An in-flight layout request: concurrent misses share it. */
  refreshing?: Promise<ReadableFile>;
}

/**
 * The gateway's view of the chunk-store's files on the shared data volume, so bytes move between
 * socket and page cache without passing through JS memory.
 *
 * - Writes take a lease from the store per chunk (its lock, then verification on close).
 * - Reads need no lease: a present chunk is verified and never changes (only a delete removes it,
 *   and forget() drops the file's cache then; or a failed re-hash makes it missing, and the
 *   repairer calls forget() with those chunks), so
 *   the gateway keeps each served file's layout (path, present bits) and a read-only mapping per
 *   window of it, and asks the store again only for a chunk it has not seen present yet. This keeps
 *   the control plane (a NATS request and Redis calls) off the path of every PIECE a holder sends.
 *
 * A path outside DATA_DIR is refused: a confused or compromised store must not make the gateway
 * serve arbitrary files.
 */
export class ChunkRegions {
  private readonly root: string;
  private readonly openWrites = new Set<OpenWrite>();
  /** Chunks whose write lease is being asked for (`fileId:index`). */
  private readonly leasing = new Set<string>();
  private readonly readable = new Map<string, ReadableFile>();
  private readonly readMaps = new MappingRegistry();
  /** How write regions get bytes to disk; shared by all of them. */
  private readonly io: WriteIo;

  constructor(
    private readonly store: Pick<ChunkStoreClient, 'location' | 'close' | 'abandon' | 'layout'>,
    dataDir: string,
    private readonly logger?: Logger,
    opts: { stagingBytes?: number } = {},
  ) {
    this.root = resolve(dataDir);
    this.io = { writer: new WriteBehind(READ_BUFFER_BYTES), staging: new ChunkStaging(opts.stagingBytes) };
  }

  async openRead(fileId: string, index: number): Promise<ReadRegion> {
    let f = this.readable.get(fileId) ?? (await this.refreshLayout(fileId));
    const { chunkCount, size, chunkSize } = f.layout;
    if (!Number.isInteger(index) || index < 0 || index >= chunkCount) {
      throw new SwarmError('OUT_OF_RANGE', `chunk ${index} is out of range: file ${fileId.slice(0, 12)} has ${chunkCount} chunks`);
    }
    if (!f.bits.get(index)) f = await this.refreshLayout(fileId, f); // the chunk may have arrived since
    if (!f.bits.get(index)) throw new SwarmError('NOT_FOUND', `chunk ${index} of file ${fileId.slice(0, 12)} is not present on this node`);
    setNewest(this.readable, fileId, f, MAX_READABLE_FILES); // eviction takes the least recently served
    f.usedAt = Date.now();
    const offset = index * chunkSize;
    const data = this.readMaps.view({ fileId, path: f.path, size, chunkSize }, offset, Math.min(chunkSize, size - offset), 'read');
    return { data, release: async () => undefined };
  }

  private readonly storedListeners: Array<(fileId: string, index?: number) => void> = [];
  private readonly lostListeners: Array<(fileId: string, index?: number) => void> = [];

  /** Called after every chunk this gateway wrote was verified and stored (e.g. to tell peers at once). */
  onStored(listener: (fileId: string, index: number) => void): void {
    this.storedListeners.push(listener as (fileId: string, index?: number) => void);
  }

  /** Called when forget() drops chunks or a whole file that this node no longer holds. */
  onLost(listener: (fileId: string) => void): void {
    this.lostListeners.push(listener);
  }

  /** A chunk this gateway wrote was verified: it can be served without asking the store. */
  private markPresent(fileId: string, index: number): void {
    this.readable.get(fileId)?.bits.set(index);
    this.tell(this.storedListeners, fileId, index, 'a stored-chunk listener failed');
  }

  private tell(listeners: Array<(fileId: string, index?: number) => void>, fileId: string, index: number | undefined, failed: string): void {
    for (const l of listeners) {
      try {
        l(fileId, index);
      } catch (e) {
        this.logger?.warn({ fileId, index, err: (e as Error).message }, failed);
      }
    }
  }


  private refreshLayout(fileId: string, known?: ReadableFile): Promise<ReadableFile> {
    if (known?.refreshing) return known.refreshing;
    const refreshing = this.store.layout(fileId).then(
      (layout) => {
        const path = this.checkPath(layout.path, `file ${fileId.slice(0, 12)}`);
        const f: ReadableFile = { layout, path, bits: Bitfield.fromBase64(layout.chunkCount, layout.bitfield) };
        const forgotten = setNewest(this.readable, fileId, f, MAX_READABLE_FILES);
        if (forgotten !== undefined) this.readMaps.drop(forgotten);
        return f;
      },
      (e) => {
        if (known) known.refreshing = undefined;
        throw e;
      },
    );
    if (known) known.refreshing = refreshing;
    return refreshing;
  }

  /**
   * At most one open write per chunk in this gateway: the store takes a second lease request for a
   * chunk from the same writer session to mean the first lease was given up (see WriterSessions).
   */
  async openWrite(fileId: string, index: number): Promise<WriteRegion> {
    const key = `${fileId}:${index}`;
    if (this.leasing.has(key) || [...this.openWrites].some((w) => w.lease.index === index && w.lease.fileId === fileId)) {
      throw new SwarmError('LOCKED', `chunk ${index} of file ${fileId.slice(0, 12)} is already being written by this gateway; try again later`);
    }
    this.leasing.add(key);
    try {
      const lease = await this.store.location(fileId, index, 'write');
      // Checked now; mapped only if someone reads `data` (a STORE push): downloads pwrite instead.
      this.checkLeasePath(lease, 'write');
      const w = new OpenWrite(lease, () => this.map(lease), this.store, this.io, this.openWrites, () => this.markPresent(fileId, index), this.logger);
      this.openWrites.add(w);
      return w;
    } finally {
      this.leasing.delete(key);
    }
  }

  /** When a chunk of the file was last read here, if this gateway still remembers (see usedAt). */
  lastRead(fileId: string): number | undefined {
    return this.readable.get(fileId)?.usedAt;
  }

  /**
   * Stop serving what this node no longer holds, from the cached layout, and tell the listeners
   * (super-seeding forgets that the file was complete here). Without `indexes`, the whole file was
   * deleted (issue 14): its layout and read mappings go, so the next read asks the store (and hears
   * NOT_FOUND), and any write still open on it is given up; a read already handed out keeps its
   * mapping (and the old, verified bytes) until it is released. With `indexes`, the store marked
   * those chunks missing (they failed a re-hash).
   */
  async forget(fileId: string, indexes?: number[]): Promise<void> {
    if (indexes) {
      const f = this.readable.get(fileId);
      for (const i of indexes) if (f && i < f.bits.length) f.bits.set(i, false);
    } else {
      this.readable.delete(fileId);
      this.readMaps.drop(fileId);
    }
    this.tell(this.lostListeners, fileId, undefined, 'a lost-chunk listener failed');
    if (!indexes) await Promise.all([...this.openWrites].filter((w) => w.lease.fileId === fileId).map((w) => w.abandon()));
  }

  /** Write leases not yet closed (in-flight downloads and pushes). */
  get writesInFlight(): number {
    return this.openWrites.size;
  }

  /** Shutdown: give every open write lease back so its chunk is not locked until the TTL. */
  async abandonAll(): Promise<void> {
    await Promise.all([...this.openWrites].map((w) => w.abandon()));
  }

  /** A lease path outside DATA_DIR is refused, and the lease handed back at once. */
  private checkLeasePath(lease: Lease, mode: 'read' | 'write'): string {
    try {
      return this.checkPath(lease.path, `chunk ${lease.index}`);
    } catch (e) {
      void (mode === 'write' ? this.store.abandon(lease.leaseId) : this.store.close(lease.leaseId)).catch(() => undefined);
      throw e;
    }
  }

  private checkPath(given: string, what: string): string {
    const path = resolve(given);
    if (path.startsWith(this.root + sep)) return path;
    // The detail stays in our log; the peer that asked only learns that we could not serve it.
    this.logger?.error({ path: given, dataDir: this.root }, 'chunk-store gave a path outside DATA_DIR: check that the chunk-store and the gateway share one data volume');
    throw new SwarmError('INTERNAL', `${what} cannot be mapped: the chunk-store gave a path outside this gateway's DATA_DIR`);
  }

  /** A write lease's region, mapped for a STORE push (its owner abandons the lease if this fails). */
  private map(lease: Lease): Buffer {
    const path = this.checkLeasePath(lease, 'write');
    try {
      const data = mapRegion(path, lease.offset, lease.length, 'write');
      if (data.length !== lease.length) throw new SwarmError('INTERNAL', `mapped ${data.length} bytes for a ${lease.length}-byte lease`);
      return data;
    } catch (e) {
      if (e instanceof SwarmError) throw e;
      throw new SwarmError('INTERNAL', `cannot map chunk ${lease.index} from ${lease.path}: ${(e as Error).message}`);
    }
  }
}

/** What a write region uses to get bytes to disk: a whole-chunk staging buffer, or slabs. */
interface WriteIo {
  writer: WriteBehind;
  staging: ChunkStaging;
}

/**
 * One chunk being written under a lease. A download's PIECE bytes arrive in order and are copied into
 * a whole-chunk staging buffer; at commit the chunk is pwritten on the thread pool in one call. The
 * event loop, which also reads the socket, only copies. Without a free staging buffer, each slice is
 * written behind through a slab instead.
 *
 * The gateway does not hash: the store hashes the bytes it holds on close, always (issue 11), and
 * answers HASH_MISMATCH, which blames the holder. A second digest here was 0.7 CPU-s per GiB for a
 * cross-check only (docs/performance.md).
 */
class OpenWrite implements WriteRegion {
  private closing?: Promise<void>;
  private mapped?: Buffer;
  private fd?: number;
  /** The whole chunk, filled in order from offset 0 (`staged` bytes so far). */
  private staged?: Staged;
  private stagedBytes = 0;
  /** Set once a byte went another way (out of order, or through the mapping): no staging from then on. */
  private unstaged = false;
  private readonly pending = new PendingWrites();
  /** Checks at commit that the chunk's bytes were written exactly once, in full (issue 13). */
  private readonly ledger: WriteLedger;

  constructor(
    readonly lease: Lease,
    private readonly mapper: () => Buffer,
    private readonly store: Pick<ChunkStoreClient, 'close' | 'abandon'>,
    private readonly io: WriteIo,
    private readonly registry: Set<OpenWrite>,
    private readonly onStored: () => void,
    private readonly logger?: Logger,
  ) {
    this.ledger = new WriteLedger(lease.length);
  }

  get length(): number {
    return this.lease.length;
  }

  /** The shared mapping of the chunk, made on first use (STORE pushes write through it). */
  get data(): Buffer {
    this.unstage();
    this.ledger.untracked();
    this.mapped ??= this.mapper();
    return this.mapped;
  }

  /**
   * Copy into the staging buffer, or pwrite into the chunk's file (same page cache as the mapping,
   * without a fault per page) through WriteBehind; commit() waits for it. `slice` may be reused once
   * this returns.
   */
  write(slice: Buffer, at: number): void {
    if (this.closing) throw new SwarmError('LEASE_CLOSED', `lease ${this.lease.leaseId} is already closed`);
    if (at < 0 || at + slice.length > this.lease.length) throw new RangeError(`write of ${slice.length} bytes at ${at} overruns the ${this.lease.length}-byte chunk`);
    this.ledger.record(at, slice.length);
    if (at === 0 && !this.unstaged && !this.staged) this.staged = this.io.staging.take(this.lease.length);
    if (this.staged) {
      if (at === this.stagedBytes) {
        slice.copy(this.staged.chunk, at);
        this.stagedBytes += slice.length;
        return;
      }
      this.unstage(); // out of order: what was staged goes to the file, the rest the slow way
    }
    this.fd ??= openSync(this.lease.path, 'r+');
    this.unstaged = true;
    this.io.writer.write(this.fd, slice, this.lease.offset + at, this.pending);
  }

  /** Leave the staging path: the staged bytes are written here, synchronously; rare. */
  private unstage(): void {
    this.unstaged = true;
    const staged = this.staged;
    if (!staged) return;
    this.staged = undefined;
    const bytes = staged.chunk.subarray(0, this.stagedBytes);
    try {
      this.fd ??= openSync(this.lease.path, 'r+');
      writeFullySync(this.fd, bytes, this.lease.offset);
    } catch (e) {
      this.pending.error ??= e as Error;
    } finally {
      staged.release();
    }
  }

  private closeFd(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }

  /** pwrite the staged chunk in one call, off the event loop. */
  private async flushStaged(): Promise<void> {
    const staged = this.staged!;
    this.staged = undefined;
    try {
      const fd = (this.fd ??= openSync(this.lease.path, 'r+'));
      await writeFully(fd, staged.chunk.subarray(0, this.stagedBytes), this.lease.offset);
    } catch (e) {
      this.pending.error ??= e as Error;
    } finally {
      staged.release();
    }
  }

  commit(written: number): Promise<void> {
    if (this.closing) return Promise.reject(new SwarmError('LEASE_CLOSED', `lease ${this.lease.leaseId} is already closed`));
    const flushed = this.staged ? this.flushStaged() : Promise.resolve();
    let giveUp = false;
    this.closing = flushed
      .then(async () => {
        await this.writesDone();
        giveUp = true;
        if (this.pending.error) throw new SwarmError('INTERNAL', `could not write chunk ${this.lease.index} into ${this.lease.path}: ${this.pending.error.message}`);
        try {
          this.ledger.check(written, `chunk ${this.lease.index} (lease ${this.lease.leaseId})`);
        } catch (e) {
          this.logger?.error({ leaseId: this.lease.leaseId, index: this.lease.index, err: (e as Error).message }, 'write-path invariant broken');
          throw e;
        }
        giveUp = false;
        return this.store.close(this.lease.leaseId, written);
      })
      .then(
        () => {
          this.registry.delete(this);
          this.onStored();
        },
        async (e) => {
          // The bytes never reached the store whole: the lease is given up, so the chunk stays missing and unlocked.
          if (giveUp) await this.store.abandon(this.lease.leaseId).catch(() => undefined);
          this.registry.delete(this);
          throw e;
        },
      );
    return this.closing;
  }

  /** Every write on the thread pool has landed in the page cache; then the fd goes. */
  private async writesDone(): Promise<void> {
    await this.pending.drained();
    this.closeFd();
  }

  abandon(): Promise<void> {
    if (this.closing) return this.closing.catch(() => undefined);
    this.staged?.release(); // nothing staged reaches the file
    this.staged = undefined;
    // An explicit abandon: the store releases the lock and keeps the chunk missing, verifying nothing.
    // (It used to close one byte short, which the store logged as a short write: issue 13.)
    this.closing = this.writesDone().then(() => this.store.abandon(this.lease.leaseId)).then(
      () => undefined,
      (e: SwarmError) => this.logger?.warn({ leaseId: this.lease.leaseId, err: e.message }, 'could not abandon a write lease'),
    );
    this.closing = this.closing.finally(() => this.registry.delete(this));
    return this.closing;
  }
}
