import { z } from 'zod';
import {
  CloseManyReplySchema,
  CloseReplySchema,
  type CloseReply,
  type CloseRequest,
  FileLayoutSchema,
  type FileLayout,
  HaveReplySchema,
  type HaveReply,
  type Lease,
  type LeaseMode,
  LeaseSchema,
  type LocationRequest,
  LocationManyReplySchema,
  MAX_CLOSES_PER_REQUEST,
  MAX_LEASES_PER_REQUEST,
  CreateFilePageReplySchema,
  type Manifest,
  type ManifestPage,
  ManifestPageSchema,
  manifestPages,
  MAX_WHOLE_MANIFEST_HASHES,
  type NatsRpc,
  type NodeDeleteReply,
  NodeDeleteReplySchema,
  StoreStatsSchema,
  storeManifest,
  type StoreStats,
  TFileDefSchema,
  type PinReply,
  PinReplySchema,
  type TFileDef,
  storeSubjects,
  WriterHeartbeatReplySchema,
  type VerifyChunksReply,
  VerifyChunksReplySchema,
} from '@swarmshare/common';
import { randomBytes } from 'node:crypto';
import { RequestBatcher } from './request-batcher';

/** The co-located chunk-store, over NATS (plain JSON, replies validated). */
export class ChunkStoreClient {
  private readonly s: ReturnType<typeof storeSubjects>;
  private readonly leases: RequestBatcher<LocationRequest, Lease>;
  private readonly closes: RequestBatcher<CloseRequest, CloseReply>;
  /** This process's writer session: its write locks live as long as it heartbeats (WriterHeartbeat). */
  readonly session = randomBytes(12).toString('base64url');

  constructor(
    private readonly rpc: NatsRpc,
    readonly nodeId: string,
  ) {
    this.s = storeSubjects(nodeId);
    this.leases = new RequestBatcher(
      (req) => this.rpc.request(this.s.location, req, LeaseSchema),
      (leases) => this.rpc.request(this.s.locationMany, { leases }, LocationManyReplySchema),
      MAX_LEASES_PER_REQUEST,
    );
    this.closes = new RequestBatcher(
      (req) => this.rpc.request(this.s.close, req, CloseReplySchema),
      (closes) => this.rpc.request(this.s.closeMany, { closes }, CloseManyReplySchema),
      MAX_CLOSES_PER_REQUEST,
    );
  }

  /** Idempotent: an existing file is returned as it is. */
  /** `share` (a base64 Bitfield): the chunks this node will hold of the file; unset: all of it. */
  async create(manifest: Manifest, share?: string): Promise<TFileDef> {
    if (manifest.hashes.length <= MAX_WHOLE_MANIFEST_HASHES) return this.rpc.request(this.s.create, share === undefined ? { manifest } : { manifest, share }, TFileDefSchema);
    // Larger than one NATS message: page by page, in order; the last page creates the file.
    let def: TFileDef | undefined;
    for (const page of manifestPages(manifest)) {
      const first = page.from === 0;
      const body = first && share !== undefined ? { page, share } : { page };
      if (page.from + page.hashes.length < manifest.hashes.length) await this.rpc.request(this.s.createPage, body, CreateFilePageReplySchema);
      else def = await this.rpc.request(this.s.createPage, body, TFileDefSchema);
    }
    return def!;
  }

  /** Leases asked for while others are on their way go together in one request (RequestBatcher). */
  location(fileId: string, index: number, mode: LeaseMode): Promise<Lease> {
    return this.leases.request(mode === 'write' ? { fileId, index, mode, owner: this.session } : { fileId, index, mode });
  }

  /** Hello (first) or heartbeat of this writer session; answers how many dead sessions' locks were released. */
  heartbeat(hello: boolean): Promise<{ released: number }> {
    return this.rpc.request(this.s.writer, { owner: this.session, ...(hello ? { hello } : {}) }, WriterHeartbeatReplySchema);
  }

  /**
   * For a write lease, `written` short of the length is refused (BAD_LENGTH; abandon() gives a lease up); `sha256` is the
   * digest of the bytes written, which the store checks instead of hashing the chunk again.
   * Closes made while others are on their way go together in one request (RequestBatcher).
   */
  close(leaseId: string, written?: number, sha256?: string): Promise<CloseReply> {
    return this.closes.request({ leaseId, ...(written === undefined ? {} : { written }), ...(sha256 === undefined ? {} : { sha256 }) });
  }

  /** Give a write lease up: its lock is released and the chunk stays missing (not a rejected chunk). */
  abandon(leaseId: string): Promise<CloseReply> {
    return this.closes.request({ leaseId, abandon: true });
  }

  have(fileId: string): Promise<HaveReply> {
    return this.rpc.request(this.s.have, { fileId }, HaveReplySchema);
  }

  layout(fileId: string): Promise<FileLayout> {
    return this.rpc.request(this.s.layout, { fileId }, FileLayoutSchema);
  }

  files(): Promise<TFileDef[]> {
    return this.rpc.request(this.s.files, {}, z.array(TFileDefSchema));
  }

  /** The whole manifest, in pages (any size up to MAX_CHUNKS hashes; each page checked). */
  manifest(fileId: string): Promise<Manifest> {
    return storeManifest(this.rpc, this.nodeId, fileId);
  }

  manifestPage(fileId: string, from: number, count: number): Promise<ManifestPage> {
    return this.rpc.request(this.s.manifestPage, { fileId, from, count }, ManifestPageSchema);
  }

  /** Re-hash chunks from disk (the whole file when `indexes` is unset: up to 10 minutes); corrupt ones become missing. */
  verify(fileId: string, indexes?: number[]): Promise<VerifyChunksReply> {
    return this.rpc.request(this.s.verify, indexes ? { fileId, indexes } : { fileId }, VerifyChunksReplySchema, indexes ? undefined : 600_000);
  }

  /** Delete the file from this node's store (its gateway stops its own transfers of the file first). */
  delete(fileId: string): Promise<Omit<NodeDeleteReply, 'cancelled'>> {
    return this.rpc.request(this.s.delete, { fileId }, NodeDeleteReplySchema.omit({ cancelled: true }));
  }

  /** Set or clear the file's pin (NOT_FOUND when this node does not hold it). */
  setPinned(fileId: string, pinned: boolean): Promise<PinReply> {
    return this.rpc.request(this.s.pin, { fileId, pinned }, PinReplySchema);
  }

  stats(): Promise<StoreStats> {
    return this.rpc.request(this.s.stats, {}, StoreStatsSchema);
  }
}
