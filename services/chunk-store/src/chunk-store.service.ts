import { randomBytes } from 'node:crypto';
import {
  Bitfield,
  type CloseReply,
  chunkBytes,
  chunkLength,
  type FileLayout,
  formatBytes,
  type HaveReply,
  type Lease,
  type LeaseMode,
  type CreateFilePageReply,
  type Logger,
  type Manifest,
  type ManifestPage,
  type MappingRegistry,
  ManifestSchema,
  MAX_CHUNKS,
  manifestIsConsistent,
  parseOrThrow,
  type RegionHasher,
  setNewest,
  ShortRegionError,
  type StoreStats,
  SwarmError,
  type TFileDef,
  type PinReply,
  type VerifyChunksReply,
} from '@swarmshare/common';
import type { ChunkIndexRepository, IndexedFile, IndexedFileWithBits } from './chunk-index.repository';
import type { EventPublisher } from './event-publisher';
import { CorruptRecordError, type FileRecordRepository } from './file-record.repository';
import type { IndexRebuilder, RebuildResult } from './index-rebuilder';
import type { KeyedMutex } from './keyed-mutex';
import type { LeaseRepository } from './lease.repository';
import { GroupCommit } from './group-commit';
import { PagedCreates, rawHashes } from './paged-creates';
import { type HeldLock, WriterSessions } from './writer-sessions';

export interface ChunkStoreOptions {
  nodeId: string;
  /** Bytes offered for chunk data; 0 = whatever the disk has free. */
  capacity: number;
  leaseTtlMs: number;
  /** How long a lease record outlives its expiry, so a late close hears LEASE_EXPIRED (not UNKNOWN). */
  leaseKeepMs?: number;
  /** How long a closed lease is remembered, so a second close hears LEASE_CLOSED. */
  tombstoneMs?: number;
  /** How often to check that Redis still holds the index. */
  indexCheckIntervalMs?: number;
  /** A writer session silent for this long loses its chunk locks (default 5000). */
  writerTimeoutMs?: number;
  /** Paged creates (store.create.page) under way at once (default 8), and how long one waits for its next page (default 60000). */
  pagedCreatesMax?: number;
  pagedCreateTimeoutMs?: number;
}

export interface ChunkStoreDeps {
  disk: FileRecordRepository;
  index: ChunkIndexRepository;
  leases: LeaseRepository;
  maps: MappingRegistry;
  events: EventPublisher;
  rebuilder: IndexRebuilder;
  fileLocks: KeyedMutex;
  /** Hashes the bytes the store holds (pread on worker threads), for close and scrub. */
  hasher: RegionHasher;
  logger: Logger;
  now?: () => number;
}

const CREATE_LOCK = '\0create';
/** Files whose summary (size, chunk size, count) is kept in memory. */
const MAX_CACHED_SUMMARIES = 4096;
/** Files whose manifest hashes (raw, 32 bytes each) are kept in memory... */
const MAX_CACHED_HASH_LISTS = 64;
/** ...and their bytes together: two of the largest manifests (MAX_CHUNKS hashes, 64 MiB each). */
const MAX_CACHED_HASH_BYTES = 2 * MAX_CHUNKS * 32;
/** Files whose allocation (whole, or which chunks of a share) is kept in memory (up to 1,750 bytes each). */
const MAX_CACHED_ALLOCATIONS = 4096;

/**
 * The seed's file side: files, chunk leases over memory-mapped regions, verification on close,
 * the have-bitfield and the tfile_def list. All I/O sits in the injected repositories.
 */
export class ChunkStoreService {
  private closed = false;
  private readonly now: () => number;
  private readonly leaseKeepMs: number;
  private readonly tombstoneMs: number;
  /**
   * What never changes for a file id (the id is the hash of size, chunk size and chunk hashes), kept
   * in memory so a lease and a close need no Redis read for it. Redis keeps the bits and the locks.
   */
  private readonly summaries = new Map<string, IndexedFile>();
  /** Raw chunk hashes (32 bytes each) of recently used files, for close checks and manifest pages. */
  private readonly hashLists = new Map<string, Buffer>();
  private readonly pagedCreates: PagedCreates;
  /**
   * Which chunks of a file have disk blocks (null: all of them), mirrored from the disk record so a
   * write lease costs no I/O for it. Changed only under the file's lock (see allocate()).
   */
  private readonly allocations = new Map<string, Bitfield | null>();
  /** Whose write locks are whose, so they die with their owner (see WriterSessions). */
  private readonly writers: WriterSessions;
  private writerSweep?: NodeJS.Timeout;
  /** Verified chunks of one file waiting to become durable together (see persist()). */
  private readonly durable: GroupCommit<{ index: number; count: number }, { changed: number[]; bits: Bitfield }>;

  constructor(
    private readonly opts: ChunkStoreOptions,
    private readonly deps: ChunkStoreDeps,
  ) {
    this.now = deps.now ?? Date.now;
    this.leaseKeepMs = opts.leaseKeepMs ?? 10 * 60_000;
    this.tombstoneMs = opts.tombstoneMs ?? 10 * 60_000;
    this.writers = new WriterSessions(opts.writerTimeoutMs ?? 5000, this.now);
    this.pagedCreates = new PagedCreates({ max: opts.pagedCreatesMax ?? 8, timeoutMs: opts.pagedCreateTimeoutMs ?? 60_000, now: this.now });
    // Crash semantics: data first (fdatasync of the data file), then the bitmap bits of the whole
    // batch (one write + fdatasync). A crash before the bitmap sync loses only those bits: the
    // chunks are fetched again, never claimed without durable bytes.
    this.durable = new GroupCommit((fileId, items) =>
      this.deps.fileLocks.run(fileId, async () => {
        try {
          await this.deps.disk.syncData(fileId);
          return await this.deps.disk.setBits(
            fileId,
            items.map((i) => i.index),
            items[0].count,
          );
        } catch (err) {
          // deleteFile() ran while these chunks were written: they are gone with their file.
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new SwarmError('NOT_FOUND', `file ${short(fileId)} was deleted from this node while its chunks were being written`);
          throw err;
        }
      }),
    );
  }

  get nodeId(): string {
    return this.opts.nodeId;
  }

  /** Rebuild the index from disk and start watching Redis for lost data. */
  async start(): Promise<RebuildResult> {
    await this.deps.disk.init();
    const stale = await this.deps.leases.clearLocks();
    if (stale > 0) this.deps.logger.info({ locks: stale }, 'released chunk locks left by the previous process (their chunks stay missing)');
    const result = await this.deps.rebuilder.rebuild('start-up');
    this.deps.rebuilder.watch(this.opts.indexCheckIntervalMs ?? 5000);
    this.writerSweep = setInterval(() => void this.releaseLapsedWriters(), Math.min(1000, this.writers.timeoutMs / 2));
    this.writerSweep.unref();
    return result;
  }

  /** A writer session's heartbeat; its hello releases the locks of the node's earlier sessions. */
  async writerHeartbeat(owner: string, hello = false): Promise<{ released: number }> {
    this.assertOpen();
    const released = this.writers.touch(owner, hello);
    if (released.length > 0) this.deps.logger.info({ owner, locks: released.length }, 'a new gateway session said hello: released the chunk locks of its predecessor');
    await this.releaseLocks(released);
    return { released: released.length };
  }

  /** Sessions whose heartbeats lapsed lose their locks: their chunks can be written again at once. */
  async releaseLapsedWriters(): Promise<void> {
    for (const { owner, silentMs, locks } of this.writers.lapsed()) {
      if (locks.length > 0) this.deps.logger.warn({ owner, silentMs, locks: locks.length }, 'a writer stopped heartbeating: released its chunk locks');
      await this.releaseLocks(locks).catch((err) => this.deps.logger.warn({ err: (err as Error).message }, 'could not release the chunk locks of a lapsed writer'));
    }
  }

  /** Unlock only where the lock is still the recorded lease's (a successor's lock is never freed). */
  private async releaseLocks(locks: HeldLock[]): Promise<void> {
    await Promise.all(locks.map((l) => this.deps.leases.unlock(l.fileId, l.index, l.leaseId)));
  }

  /** Check that Redis still holds the index (e.g. after a reconnect) and rebuild it if not. */
  checkIndex(): Promise<void> {
    return this.deps.rebuilder.ensure();
  }

  /**
   * Create the file's record (idempotent). `share`: the chunks this node will hold when it holds
   * only a share (a replica: see docs/operations.md, "Sparse partial replicas"); only their bytes
   * are allocated and counted. For a file already here, whatever of `share` (or, without one, of
   * the whole file) is not yet allocated is allocated now, NO_SPACE before any byte moves if it
   * does not fit: how a node holding a share makes room to fetch the whole file.
   */
  async createFile(input: Manifest, shareB64?: string): Promise<TFileDef> {
    this.assertOpen();
    const manifest = parseOrThrow(ManifestSchema, input, 'manifest');
    if (!manifestIsConsistent(manifest)) {
      throw new SwarmError('BAD_REQUEST', `manifest of "${manifest.name}" is inconsistent: its file id does not match its size, chunk size and chunk hashes`);
    }
    const share = shareB64 === undefined ? undefined : parseShare(manifest, shareB64);
    const { fileLocks, disk, index } = this.deps;
    // Creates are serialised so two of them cannot both pass the space check. The lookups here may
    // trigger a rebuild, which takes per-file locks, so only the writes run under the file's lock.
    const created = await fileLocks.run(CREATE_LOCK, async () => {
      const existing = await this.find(manifest.fileId);
      if (existing) {
        await this.allocateLocked(existing, share ? share.indexes() : undefined, `"${manifest.name}"`);
        return { def: toDef(existing, existing.bits.count()), created: false };
      }
      const shared = share && !share.isComplete() ? share : undefined;
      const need = shared ? chunkBytes(shared.indexes(), manifest.size, manifest.chunkSize) : manifest.size;
      await this.checkRoom(need, `"${manifest.name}"${shared ? ` (a share of ${shared.count()} of its ${shared.length} chunks)` : ''}`);
      await fileLocks.run(manifest.fileId, async () => {
        await disk.create(manifest, shared);
        await index.putFile(manifest, new Bitfield(manifest.hashes.length), false, shared ? need : undefined);
        setNewest(this.allocations, manifest.fileId, shared ? new Bitfield(shared.length, shared.bytes) : null, MAX_CACHED_ALLOCATIONS);
      });
      return { def: toDef(summaryOf(manifest), 0), created: true };
    });
    if (created.created && created.def.chunkCount === 0) this.publish('fileCompleted', { nodeId: this.nodeId, fileId: manifest.fileId });
    return created.def;
  }

  /** NO_SPACE unless `need` more bytes fit in the quota and on the disk. Under CREATE_LOCK. */
  private async checkRoom(need: number, what: string): Promise<void> {
    const { free } = await this.stats();
    if (need > free) {
      throw new SwarmError('NO_SPACE', `${what} needs ${formatBytes(need)} but this store has ${formatBytes(free)} free: free space or raise STORE_CAPACITY`);
    }
  }

  /**
   * Allocate the chunks `indexes` (all, when unset) of a file that are not yet: one fallocate per
   * run of chunks, after a quota check of their bytes. Runs under CREATE_LOCK (so two allocations
   * cannot both pass the check); the disk work under the file's lock.
   */
  private async allocateLocked(file: IndexedFile, indexes: number[] | undefined, what: string): Promise<void> {
    const current = await this.allocationOf(file);
    if (!current) return; // the whole file is allocated
    const missing = (indexes ?? Array.from({ length: file.chunkCount }, (_, i) => i)).filter((i) => !current.get(i));
    if (missing.length === 0) return;
    await this.checkRoom(chunkBytes(missing, file.size, file.chunkSize), `${what}: ${missing.length} more chunk(s)`);
    await this.deps.fileLocks.run(file.fileId, async () => {
      // Re-read under the lock: the file may have been deleted (or allocated) meanwhile.
      const now = await this.deps.disk.loadAllocated(file.fileId, file.chunkCount);
      if (!(await this.deps.index.getFile(file.fileId))) throw notFound(file.fileId);
      if (!now) return setNewest(this.allocations, file.fileId, null, MAX_CACHED_ALLOCATIONS);
      const next = await this.deps.disk.allocate(file, now, missing);
      await this.deps.index.setAllocated(file.fileId, next ? chunkBytes(next.indexes(), file.size, file.chunkSize) : null);
      setNewest(this.allocations, file.fileId, next, MAX_CACHED_ALLOCATIONS);
      this.deps.logger.info({ event: 'file.allocated', fileId: file.fileId, chunks: missing.length, whole: next === null }, 'allocated more of a partial replica');
    });
  }

  /** Which chunks have blocks (null: all), from memory once read from the disk record. */
  private async allocationOf(file: IndexedFile): Promise<Bitfield | null> {
    const hit = this.allocations.get(file.fileId);
    if (hit !== undefined) return hit;
    const rec = await this.deps.disk.loadAllocated(file.fileId, file.chunkCount);
    setNewest(this.allocations, file.fileId, rec, MAX_CACHED_ALLOCATIONS);
    return rec;
  }

  /**
   * A local import (see FileImports): the staged file, hashed here, becomes a complete file record
   * in one step. A file id this store already has is left as it is (`adopted: false`).
   */
  async adoptFile(manifest: Manifest, stagedPath: string): Promise<{ def: TFileDef; adopted: boolean }> {
    this.assertOpen();
    const { fileLocks, disk, index } = this.deps;
    const r = await fileLocks.run(CREATE_LOCK, async () => {
      const existing = await this.find(manifest.fileId);
      if (existing) return { def: toDef(existing, existing.bits.count()), adopted: false };
      await fileLocks.run(manifest.fileId, async () => {
        await disk.adopt(manifest, stagedPath);
        await index.putFile(manifest, Bitfield.full(manifest.hashes.length));
      });
      return { def: toDef(summaryOf(manifest), manifest.hashes.length), adopted: true };
    });
    if (r.adopted) this.publish('fileCompleted', { nodeId: this.nodeId, fileId: manifest.fileId });
    return r;
  }

  /** A lease for the co-located gateway, which maps the region itself. `owner`: its writer session. */
  async leaseChunk(fileId: string, index: number, mode: LeaseMode, owner?: string): Promise<Lease> {
    return (await this.issueLease(fileId, index, mode, owner)).lease;
  }

  /** The seed's chunk_location(): a lease plus a Buffer over the mapped chunk (write into it, or read it). */
  async chunkLocation(fileId: string, index: number, mode: LeaseMode): Promise<{ lease: Lease; buffer: Buffer }> {
    const { lease, file } = await this.issueLease(fileId, index, mode);
    try {
      return { lease, buffer: this.view(file, lease, mode) };
    } catch (err) {
      await this.chunkClose(lease.leaseId, 0).catch(() => undefined);
      throw err;
    }
  }

  private async issueLease(fileId: string, index: number, mode: LeaseMode, owner?: string): Promise<{ lease: Lease; file: IndexedFile }> {
    this.assertOpen();
    if (mode === 'write') return this.issueWriteLease(fileId, index, owner);
    const file = await this.lookup(fileId);
    const lease = this.newLease(file, index, mode);
    if (!file.bits.get(index)) throw new SwarmError('NOT_FOUND', `chunk ${index} of file ${short(fileId)} is not present on this node`);
    await this.deps.leases.save(lease, this.opts.leaseTtlMs + this.leaseKeepMs);
    return { lease, file };
  }

  /** One Redis round trip: indexed, missing and unlocked, then locked and recorded, atomically. */
  private async issueWriteLease(fileId: string, index: number, owner?: string): Promise<{ lease: Lease; file: IndexedFile }> {
    const file = await this.summary(fileId);
    const lease = this.newLease(file, index, 'write');
    // The writer maps the chunk: a hole written through a mapping on a full disk is a SIGBUS, so a
    // chunk outside the allocated share gets its blocks (or NO_SPACE) before any lease is out.
    const allocated = await this.allocationOf(file);
    if (allocated && !allocated.get(index)) {
      await this.deps.fileLocks.run(CREATE_LOCK, () => this.allocateLocked(file, [index], `chunk ${index} of file ${short(fileId)}`));
    }
    const acquire = () => this.deps.leases.acquireWrite(lease, this.opts.leaseTtlMs, this.opts.leaseTtlMs + this.leaseKeepMs);
    let got = await acquire();
    if (got === 'NOINDEX') {
      // Redis lost the file: the lookup finds it on disk and re-indexes, then the same script again.
      await this.lookup(fileId);
      got = await acquire();
    }
    const mine = got === 'LOCKED' && owner !== undefined ? this.writers.heldBy(owner, fileId, index) : undefined;
    if (mine) {
      // The session asks again for a chunk it holds: it gave that lease up (its close was lost), so
      // the old lock goes rather than making it wait out LEASE_TTL_MS.
      this.writers.untrack(fileId, index, mine.leaseId);
      await this.deps.leases.unlock(fileId, index, mine.leaseId);
      got = await acquire();
    }
    if (got === 'OK' && owner !== undefined) await this.releaseLocks(this.writers.track(owner, { fileId, index, leaseId: lease.leaseId }));
    if (got === 'PRESENT') throw new SwarmError('CONFLICT', `chunk ${index} of file ${short(fileId)} is already present: it cannot be written again`);
    if (got === 'LOCKED') throw new SwarmError('LOCKED', `chunk ${index} of file ${short(fileId)} is being written by another lease; try again later`);
    if (got === 'NOINDEX') throw new SwarmError('UNAVAILABLE', `the index of file ${short(fileId)} was lost again while it was rebuilt; try again`);
    return { lease, file };
  }

  private newLease(file: IndexedFile, index: number, mode: LeaseMode): Lease {
    const { fileId } = file;
    if (!Number.isInteger(index) || index < 0 || index >= file.chunkCount) {
      throw new SwarmError('OUT_OF_RANGE', `chunk ${index} is out of range: file ${short(fileId)} has ${file.chunkCount} chunks`);
    }
    const leaseId = randomBytes(16).toString('base64url');
    return {
      leaseId,
      fileId,
      index,
      mode,
      path: this.deps.disk.dataPath(fileId),
      offset: index * file.chunkSize,
      length: chunkLength(file.size, file.chunkSize, index),
      expiresAt: this.now() + this.opts.leaseTtlMs,
    };
  }

  /**
   * The seed's chunk_close(): a write becomes an available chunk only once verified and synced.
   * `sha256`: the writer's digest of the bytes it wrote (see CloseRequestSchema): a cross-check only, the region is always hashed here.
   */
  async chunkClose(leaseId: string, written?: number, sha256?: string): Promise<CloseReply> {
    this.assertOpen();
    const claim = await this.deps.leases.claim(leaseId, this.tombstoneMs);
    if (claim.state === 'unknown') throw new SwarmError('LEASE_UNKNOWN', `lease ${leaseId} is unknown here (never issued, or long expired)`);
    if (claim.state === 'closed') throw new SwarmError('LEASE_CLOSED', `lease ${leaseId} is already closed`);
    const lease = claim.lease;
    const { leases } = this.deps;
    if (lease.mode === 'write') this.writers.untrack(lease.fileId, lease.index, leaseId);
    if (lease.mode === 'write' && !claim.ownsLock) {
      throw new SwarmError('LEASE_EXPIRED', `lease ${leaseId} expired: its lock on chunk ${lease.index} was released; request a new lease`);
    }
    if (this.now() > lease.expiresAt) {
      if (lease.mode === 'write') await leases.unlock(lease.fileId, lease.index, leaseId);
      throw new SwarmError('LEASE_EXPIRED', `lease ${leaseId} expired at ${new Date(lease.expiresAt).toISOString()}; request a new lease`);
    }
    if (lease.mode === 'read') {
      const file = await this.lookup(lease.fileId);
      return { leaseId, fileId: lease.fileId, index: lease.index, available: file.bits.get(lease.index), fileComplete: file.bits.isComplete() };
    }
    let committed: { reply: CloseReply; completed: boolean };
    try {
      committed = await this.commitWrite(lease, written, sha256); // releases the lock when it succeeds
    } catch (err) {
      await leases.unlock(lease.fileId, lease.index, leaseId);
      throw err;
    }
    if (committed.completed) this.publish('fileCompleted', { nodeId: this.nodeId, fileId: lease.fileId });
    return committed.reply;
  }

  /**
   * The writer gives a write lease up: the lock goes, nothing is verified, the chunk stays missing.
   * A read lease is simply closed. Idempotent enough for a retry: an already closed lease says so.
   */
  async chunkAbandon(leaseId: string): Promise<CloseReply> {
    this.assertOpen();
    const claim = await this.deps.leases.claim(leaseId, this.tombstoneMs);
    if (claim.state === 'unknown') throw new SwarmError('LEASE_UNKNOWN', `lease ${leaseId} is unknown here (never issued, or long expired)`);
    if (claim.state === 'closed') throw new SwarmError('LEASE_CLOSED', `lease ${leaseId} is already closed`);
    const { lease } = claim;
    if (lease.mode === 'write') this.writers.untrack(lease.fileId, lease.index, leaseId);
    if (lease.mode === 'write' && claim.ownsLock) await this.deps.leases.unlock(lease.fileId, lease.index, leaseId);
    const file = await this.lookup(lease.fileId);
    return { leaseId, fileId: lease.fileId, index: lease.index, available: file.bits.get(lease.index), fileComplete: file.bits.isComplete() };
  }

  async have(fileId: string): Promise<HaveReply> {
    this.assertOpen();
    const file = await this.lookup(fileId);
    return { fileId, chunkCount: file.chunkCount, present: file.bits.count(), bitfield: file.bits.toBase64() };
  }

  /** have() plus where the data file is: the gateway's lease-free reads of present chunks. */
  async layout(fileId: string): Promise<FileLayout> {
    this.assertOpen();
    const file = await this.lookup(fileId);
    return {
      fileId,
      chunkCount: file.chunkCount,
      present: file.bits.count(),
      bitfield: file.bits.toBase64(),
      path: this.deps.disk.dataPath(fileId),
      size: file.size,
      chunkSize: file.chunkSize,
    };
  }

  /**
   * Re-hash present chunks from the bytes on disk (all of the file's when `indexes` is unset). A
   * chunk that fails is marked missing, bitmap first and then the index, so it is no longer served
   * or advertised and a download can write it again; the caller fetches it again (the gateway), or,
   * for the scrub, the node's gateway is told by an event.
   * Hashing runs on the thread pool (WebCrypto), one chunk at a time, so a big file does not hold
   * more than one chunk in memory.
   */
  async verifyChunks(fileId: string, indexes?: number[], by: 'request' | 'scrub' = 'request'): Promise<VerifyChunksReply> {
    this.assertOpen();
    const file = await this.lookup(fileId);
    for (const i of indexes ?? []) {
      if (i >= file.chunkCount) throw new SwarmError('OUT_OF_RANGE', `chunk ${i} is out of range: file ${short(fileId)} has ${file.chunkCount} chunks`);
    }
    const candidates = (indexes ?? file.bits.indexes()).filter((i) => file.bits.get(i));
    const corrupt: number[] = [];
    for (const i of candidates) {
      if (!(await this.chunkIsSound(file, i))) corrupt.push(i);
    }
    if (corrupt.length > 0) await this.markMissing(file, corrupt, by);
    return { fileId, checked: candidates.length, corrupt };
  }

  /** Whether chunk `index`'s bytes on disk still hash to the manifest's digest. */
  async chunkIsSound(file: IndexedFile, index: number): Promise<boolean> {
    const length = chunkLength(file.size, file.chunkSize, index);
    let actual: string;
    try {
      actual = await this.deps.hasher.digest(this.deps.disk.dataPath(file.fileId), index * file.chunkSize, length);
    } catch (e) {
      if (e instanceof ShortRegionError) return false; // the data file ends inside the chunk: its bytes are not there
      throw e;
    }
    return actual === (await this.expectedHash(file.fileId, index));
  }

  private async markMissing(file: IndexedFile, indexes: number[], by: string): Promise<void> {
    const { fileId, chunkCount } = file;
    await this.deps.fileLocks.run(fileId, async () => {
      await this.deps.disk.clearBits(fileId, indexes, chunkCount);
      await this.deps.index.clearBits(fileId, indexes);
    });
    this.deps.logger.error({ fileId, chunks: indexes.slice(0, 32), count: indexes.length, by }, 'chunks failed their hash on disk: marked missing, the gateway fetches them again');
    // Whoever asked (the gateway) has the reply; what the scrub found, the gateway hears as an event.
    if (by === 'scrub') this.publish('chunksCorrupt', { nodeId: this.nodeId, fileId, indexes });
  }

  /** The seed's tfile_def array. */
  async files(): Promise<TFileDef[]> {
    this.assertOpen();
    await this.deps.rebuilder.ensure();
    return (await this.deps.index.listFiles()).map((f) => toDef(f, f.present, f.pinned));
  }

  /** Hashes `from`..`from + count` of the file's manifest (store.manifest.page); OUT_OF_RANGE past its chunks. */
  async manifestPage(fileId: string, from: number, count: number): Promise<ManifestPage> {
    this.assertOpen();
    const file = await this.summary(fileId);
    const hashes = await this.hashesOf(fileId);
    if (from > file.chunkCount || (from === file.chunkCount && file.chunkCount > 0)) {
      throw new SwarmError('OUT_OF_RANGE', `manifest page from ${from} is past the ${file.chunkCount} chunks of file ${short(fileId)}`);
    }
    const end = Math.min(file.chunkCount, from + count);
    const page: string[] = [];
    for (let i = from; i < end; i++) page.push(hashes.toString('hex', i * 32, i * 32 + 32));
    return { fileId, name: file.name, size: file.size, chunkSize: file.chunkSize, chunkCount: file.chunkCount, from, hashes: page };
  }

  /**
   * store.create.page: one page of a manifest too large for one message (in order, from 0). Every
   * page but the last answers how many hashes are in; the last creates the file (as createFile).
   */
  async createFilePage(page: ManifestPage, share?: string): Promise<TFileDef | CreateFilePageReply> {
    this.assertOpen();
    const step = this.pagedCreates.take(page, share);
    if (!step.done) return { fileId: page.fileId, received: step.received };
    return this.createFile(step.manifest, step.share);
  }

  async manifest(fileId: string): Promise<Manifest> {
    this.assertOpen();
    const m = await this.deps.index.getManifest(fileId);
    if (m) return m;
    const rec = await this.fromDisk(fileId);
    if (!rec) throw notFound(fileId);
    return rec.manifest;
  }

  async stats(): Promise<StoreStats> {
    this.assertOpen();
    await this.deps.rebuilder.ensure();
    const files = await this.deps.index.listFiles();
    // A partial replica counts the bytes of its share (what is allocated), not its file's size.
    const used = files.reduce((n, f) => n + f.allocated, 0);
    const diskFree = await this.deps.disk.diskFree();
    // What is counted is allocated, so the disk's free space already excludes it.
    const capacity = this.opts.capacity > 0 ? this.opts.capacity : used + diskFree;
    const free = Math.max(0, Math.min(capacity - used, diskFree));
    return { nodeId: this.nodeId, capacity, used, free, files: files.length };
  }

  /**
   * Delete a file from this node: its data, manifest, bitmap and index entries (issue 14).
   * Idempotent: a file that is not here answers `deleted: false`. A write lease still out on it fails
   * its close with NOT_FOUND; reads already mapped keep their bytes until released (the kernel frees
   * the blocks then). The co-located gateway stops its own transfers of the file before it asks.
   */
  async deleteFile(fileId: string): Promise<{ nodeId: string; fileId: string; deleted: boolean; bytes: number }> {
    this.assertOpen();
    const { fileLocks, disk, index, maps } = this.deps;
    // Under the create lock too, so a concurrent create's space check sees the space freed or not, never half.
    const result = await fileLocks.run(CREATE_LOCK, () =>
      fileLocks.run(fileId, async () => {
        const known = (await index.getFile(fileId)) ?? this.summaries.get(fileId);
        // The bytes it frees: a share's allocated chunks, else the whole file.
        const share = known ? await disk.loadAllocated(fileId, known.chunkCount).catch(() => null) : null;
        const bytes = !known ? 0 : share ? chunkBytes(share.indexes(), known.size, known.chunkSize) : known.size;
        const { existed } = await disk.remove(fileId);
        await index.removeFile(fileId);
        this.summaries.delete(fileId);
        this.hashLists.delete(fileId);
        this.allocations.delete(fileId);
        maps.drop(fileId);
        return { deleted: existed || known != null, bytes };
      }),
    );
    if (result.deleted) this.deps.logger.info({ event: 'file.deleted', fileId, bytes: result.bytes }, 'file deleted from this node');
    return { nodeId: this.nodeId, fileId, ...result };
  }

  /**
   * Pin or unpin a file this node holds (`swarmshare pin`): a marker on disk with the file (so it
   * survives restarts and a Redis that lost its data) mirrored in the index, which GC reads.
   */
  async setPinned(fileId: string, pinned: boolean): Promise<PinReply> {
    this.assertOpen();
    const { fileLocks, disk, index } = this.deps;
    // find() may rebuild the index (which takes file locks): outside the lock; a delete racing in
    // between is caught under it.
    if (!(await this.find(fileId))) throw notFound(fileId);
    await fileLocks.run(fileId, async () => {
      if (!(await index.getFile(fileId))) throw notFound(fileId);
      await disk.setPinned(fileId, pinned);
      await index.setPinned(fileId, pinned);
    });
    this.deps.logger.info({ event: pinned ? 'file.pinned' : 'file.unpinned', fileId }, pinned ? 'file pinned: watermark GC keeps it' : 'file unpinned');
    return { nodeId: this.nodeId, fileId, pinned };
  }

  /** Sync every write mapping and drop every mapping; later calls fail with UNAVAILABLE. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.writerSweep);
    this.deps.rebuilder.stop();
    this.deps.maps.closeAll();
    void this.deps.hasher.close();
  }

  // ---- internals ----

  /** Verify and persist a written chunk; `completed` is true for the close that completed the file. */
  private async commitWrite(lease: Lease, written: number | undefined, sha256: string | undefined): Promise<{ reply: CloseReply; completed: boolean }> {
    const { fileId, index, leaseId } = lease;
    if (written !== undefined && written !== lease.length) {
      throw new SwarmError('BAD_LENGTH', `lease ${leaseId} covers ${lease.length} bytes of chunk ${index} but ${written} were written; the chunk stays missing`);
    }
    const file = await this.summary(fileId);
    // Verify first: a chunk that fails costs no sync at all. The store hashes the bytes it holds,
    // always: a writer's digest is a claim by whoever could publish on NATS, and trusting it would
    // let a client mark any bytes present (issue 11; cost measured in docs/architecture.md).
    // pread and hash on worker threads (RegionHasher): the event loop stays free, and no page of
    // the chunk faults into a mapping of ours.
    const actual = await this.deps.hasher.digest(lease.path, lease.offset, lease.length);
    if (sha256 !== undefined && sha256 !== actual) {
      throw new SwarmError(
        'HASH_MISMATCH',
        `chunk ${index} of file ${short(fileId)}: the writer's SHA-256 ${sha256} is not that of the bytes written (${actual}); the chunk stays missing: fetch it again`,
      );
    }
    const expected = await this.expectedHash(fileId, index);
    if (actual !== expected) {
      throw new SwarmError(
        'HASH_MISMATCH',
        `chunk ${index} of file ${short(fileId)} failed verification: SHA-256 ${actual} does not match the manifest's ${expected}; the chunk stays missing: fetch it again`,
      );
    }
    // Durable (data synced, then its bitmap bit synced) before it counts anywhere, batched per file.
    const persisted = await this.durable.add(fileId, { index, count: file.chunkCount });
    const changed = persisted.changed.includes(index);
    const bits = persisted.bits;
    if (!(await this.deps.index.setBitAndUnlock(fileId, index, leaseId))) {
      // Redis lost the index: rebuild it (the bit is already on disk, so it is not lost).
      void this.deps.rebuilder.rebuild('index lost while storing a chunk').catch((err) => this.deps.logger.error({ err: (err as Error).message }, 'index rebuild failed'));
    }
    const fileComplete = bits.isComplete();
    return { reply: { leaseId, fileId, index, available: true, fileComplete }, completed: changed && fileComplete && index === persisted.changed[persisted.changed.length - 1] };
  }

  private view(file: IndexedFile, lease: Lease, mode: LeaseMode): Buffer {
    return this.deps.maps.view({ ...file, path: lease.path }, lease.offset, lease.length, mode);
  }

  private async expectedHash(fileId: string, index: number): Promise<string> {
    const hashes = await this.hashesOf(fileId);
    return hashes.toString('hex', index * 32, index * 32 + 32);
  }

  /** The file's chunk hashes, raw, from memory once read (bounded by count and by bytes). */
  private async hashesOf(fileId: string): Promise<Buffer> {
    let hashes = this.hashLists.get(fileId);
    if (!hashes) {
      hashes = rawHashes((await this.manifest(fileId)).hashes);
      setNewest(this.hashLists, fileId, hashes, MAX_CACHED_HASH_LISTS);
      let bytes = 0;
      for (const h of this.hashLists.values()) bytes += h.length;
      for (const [id, h] of this.hashLists) {
        if (bytes <= MAX_CACHED_HASH_BYTES || id === fileId) break;
        this.hashLists.delete(id);
        bytes -= h.length;
      }
    }
    return hashes;
  }

  /** The file's summary, from memory once looked up. */
  private async summary(fileId: string): Promise<IndexedFile> {
    return this.summaries.get(fileId) ?? (await this.lookup(fileId));
  }

  /** The index entry, or (after Redis lost it) the disk record; NOT_FOUND when neither has it. */
  private async lookup(fileId: string): Promise<IndexedFileWithBits> {
    const file = await this.find(fileId);
    if (!file) throw notFound(fileId);
    if (!this.summaries.has(fileId)) setNewest(this.summaries, fileId, summaryOf(file), MAX_CACHED_SUMMARIES);
    return file;
  }

  private async find(fileId: string): Promise<IndexedFileWithBits | null> {
    const hit = await this.deps.index.getFile(fileId);
    if (hit) return hit;
    const rec = await this.fromDisk(fileId);
    return rec && { ...summaryOf(rec.manifest), bits: rec.bits };
  }

  /** Disk fallback for an index miss; a hit here means Redis lost data, so re-index everything. */
  private async fromDisk(fileId: string) {
    let rec;
    try {
      rec = await this.deps.disk.load(fileId);
    } catch (err) {
      if (err instanceof CorruptRecordError) {
        this.deps.logger.error({ fileId, err: err.message }, 'file record is corrupt');
        return null;
      }
      throw err;
    }
    if (rec) await this.deps.rebuilder.rebuild(`file ${short(fileId)} is on disk but missing from the index`);
    return rec;
  }

  private publish<K extends keyof EventPublisher>(kind: K, event: Parameters<EventPublisher[K]>[0]): void {
    try {
      (this.deps.events[kind] as (e: typeof event) => void)(event);
    } catch (err) {
      // The chunk is stored either way; consumers reconcile from have/files on their own.
      this.deps.logger.warn({ err: (err as Error).message, kind }, 'could not publish event');
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new SwarmError('UNAVAILABLE', `chunk-store ${this.nodeId} is shutting down`);
  }
}

function summaryOf(m: Manifest | IndexedFile): IndexedFile {
  const chunkCount = 'hashes' in m ? m.hashes.length : m.chunkCount;
  return { fileId: m.fileId, name: m.name, size: m.size, chunkSize: m.chunkSize, chunkCount };
}

/** The chunk set of a create request, checked against the manifest (BAD_REQUEST if it does not fit). */
function parseShare(manifest: Manifest, b64: string): Bitfield {
  try {
    return Bitfield.fromBase64(manifest.hashes.length, b64);
  } catch (e) {
    throw new SwarmError('BAD_REQUEST', `share of "${manifest.name}" is not a bitfield of its ${manifest.hashes.length} chunks: ${(e as Error).message}`);
  }
}

function toDef(f: IndexedFile, present: number, pinned = false): TFileDef {
  const { fileId, name, size, chunkSize, chunkCount } = f;
  return { fileId, name, size, chunkSize, chunkCount, chunksPresent: present, state: present === chunkCount ? 'complete' : 'partial', ...(pinned ? { pinned } : {}) };
}

function notFound(fileId: string): SwarmError {
  return new SwarmError('NOT_FOUND', `file ${short(fileId)} is not in this store`);
}

function short(fileId: string): string {
  return fileId.slice(0, 12);
}
