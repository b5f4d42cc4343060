import { closeSync, openSync, writeSync } from 'node:fs';
import { resolve, sep } from 'node:path';
import {
  type Lease,
  type Logger,
  mapRegion,
  type ReadRegion,
  SwarmError,
  type WriteRegion,
} from '@swarmshare/common';
import type { ChunkStoreClient } from './chunk-store.client';

/**
 * Leases from the chunk-store turned into mapped regions of the shared data volume. The gateway
 * maps exactly [offset, offset+length) of the leased file with MAP_SHARED, so bytes move between
 * socket and page cache without passing through JS memory. A lease path outside DATA_DIR is
 * refused: a confused or compromised store must not make the gateway serve arbitrary files.
 */
export class ChunkRegions {
  private readonly root: string;
  private readonly openWrites = new Set<OpenWrite>();

  constructor(
    private readonly store: Pick<ChunkStoreClient, 'location' | 'close'>,
    dataDir: string,
    private readonly logger?: Logger,
  ) {
    this.root = resolve(dataDir);
  }

  async openRead(fileId: string, index: number): Promise<ReadRegion> {
    const lease = await this.store.location(fileId, index, 'read');
    const data = this.map(lease, 'read');
    let released = false;
    return {
      data,
      release: async () => {
        if (released) return;
        released = true;
        await this.store.close(lease.leaseId);
      },
    };
  }

  async openWrite(fileId: string, index: number): Promise<WriteRegion> {
    const lease = await this.store.location(fileId, index, 'write');
    // Checked now; mapped only if someone reads `data` (a STORE push): downloads pwrite instead.
    this.checkPath(lease, 'write');
    const w = new OpenWrite(lease, () => this.map(lease, 'write', false), this.store, this.openWrites, this.logger);
    this.openWrites.add(w);
    return w;
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
  private checkPath(lease: Lease, mode: 'read' | 'write'): string {
    const path = resolve(lease.path);
    if (path.startsWith(this.root + sep)) return path;
    // The detail stays in our log; the peer that asked only learns that we could not serve it.
    this.logger?.error({ path: lease.path, dataDir: this.root }, 'chunk-store leased a path outside DATA_DIR: check that the chunk-store and the gateway share one data volume');
    void this.store.close(lease.leaseId, mode === 'write' ? 0 : undefined).catch(() => undefined);
    throw new SwarmError('INTERNAL', `chunk ${lease.index} cannot be mapped: the chunk-store leased a path outside this gateway's DATA_DIR`);
  }

  /** `handBack`: close the lease if mapping fails (false when its owner abandons it anyway). */
  private map(lease: Lease, mode: 'read' | 'write', handBack = true): Buffer {
    const path = this.checkPath(lease, mode);
    try {
      const data = mapRegion(path, lease.offset, lease.length, mode);
      if (data.length !== lease.length) throw new SwarmError('INTERNAL', `mapped ${data.length} bytes for a ${lease.length}-byte lease`);
      return data;
    } catch (e) {
      // Hand the lease back at once instead of leaving the chunk locked until it expires.
      if (handBack) void this.store.close(lease.leaseId, mode === 'write' ? 0 : undefined).catch(() => undefined);
      if (e instanceof SwarmError) throw e;
      throw new SwarmError('INTERNAL', `cannot map chunk ${lease.index} from ${lease.path}: ${(e as Error).message}`);
    }
  }
}

class OpenWrite implements WriteRegion {
  private closing?: Promise<void>;
  private mapped?: Buffer;
  private fd?: number;

  constructor(
    readonly lease: Lease,
    private readonly mapper: () => Buffer,
    private readonly store: Pick<ChunkStoreClient, 'close'>,
    private readonly registry: Set<OpenWrite>,
    private readonly logger?: Logger,
  ) {}

  /** The shared mapping of the chunk, made on first use (STORE pushes write through it). */
  get data(): Buffer {
    this.mapped ??= this.mapper();
    return this.mapped;
  }

  /** pwrite into the chunk's file: same page cache as the mapping, without a fault per page. */
  write(slice: Buffer, at: number): void {
    if (this.closing) throw new SwarmError('LEASE_CLOSED', `lease ${this.lease.leaseId} is already closed`);
    if (at < 0 || at + slice.length > this.lease.length) throw new RangeError(`write of ${slice.length} bytes at ${at} overruns the ${this.lease.length}-byte chunk`);
    this.fd ??= openSync(this.lease.path, 'r+');
    let done = 0;
    while (done < slice.length) done += writeSync(this.fd, slice, done, slice.length - done, this.lease.offset + at + done);
  }

  private closeFd(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }

  commit(written: number): Promise<void> {
    if (this.closing) return Promise.reject(new SwarmError('LEASE_CLOSED', `lease ${this.lease.leaseId} is already closed`));
    this.closeFd();
    this.closing = this.store.close(this.lease.leaseId, written).then(
      () => void this.registry.delete(this),
      (e) => {
        this.registry.delete(this);
        throw e;
      },
    );
    return this.closing;
  }

  abandon(): Promise<void> {
    if (this.closing) return this.closing.catch(() => undefined);
    this.closeFd();
    // Closing short of the length makes the store release the lock and keep the chunk missing.
    const short = Math.max(0, this.lease.length - 1);
    this.closing = this.store.close(this.lease.leaseId, short).then(
      () => undefined,
      (e: SwarmError) => {
        if (e.code !== 'BAD_LENGTH') this.logger?.warn({ leaseId: this.lease.leaseId, err: e.message }, 'could not abandon a write lease');
      },
    );
    this.closing = this.closing.finally(() => this.registry.delete(this));
    return this.closing;
  }
}
