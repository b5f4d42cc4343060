import { z } from 'zod';
import { type ErrorBody, ErrorCodes } from './errors';
import { MAX_TTL_MS, MIN_TTL_MS } from './durations';

/**
 * Every message that crosses a process boundary has a schema here and is parsed on arrival.
 * Types are inferred from the schemas so the two cannot drift.
 */

/** Node ids become NATS subject tokens and Redis hash tags: keep them to a safe alphabet. */
export const NodeIdSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'node id must be 1-63 chars of a-z, 0-9, "-" or "_", starting with a letter or digit');
export const FileIdSchema = z.string().regex(/^[0-9a-f]{64}$/, 'file id must be 64 lowercase hex characters');
export const Sha256HexSchema = z.string().regex(/^[0-9a-f]{64}$/, 'hash must be 64 lowercase hex characters');

/** A display name only: never a path. No separators, no "." / "..", no control characters. */
export const FileNameSchema = z
  .string()
  .min(1, 'file name is empty')
  .max(255, 'file name is longer than 255 characters')
  .refine((n) => !/[/\\]/.test(n), 'file name must not contain path separators')
  .refine((n) => n !== '.' && n !== '..', 'file name must not be "." or ".."')
  .refine((n) => !/[\x00-\x1f\x7f]/.test(n), 'file name must not contain control characters');

/** host:port a peer can be reached at. */
export const PeerAddressSchema = z
  .string()
  .regex(/^[A-Za-z0-9._-]+:\d{1,5}$|^\[[0-9a-fA-F:.]+\]:\d{1,5}$/, 'address must be host:port')
  .refine((a) => {
    const port = Number(a.slice(a.lastIndexOf(':') + 1));
    return port > 0 && port < 65536;
  }, 'port must be 1-65535');

export const MIN_CHUNK_SIZE = 64 * 1024;
export const MAX_CHUNK_SIZE = 64 * 1024 * 1024;
export const DEFAULT_CHUNK_SIZE = 1024 * 1024;
/**
 * The most chunks a file may have: 2^21 (2,097,152), so 128 GiB at the smallest chunk (64 KiB) and
 * 128 TiB at the largest. A bound, so that nothing a peer or client sends makes a process hold
 * more than 2^21 hashes for one file (64 MiB raw, ~200 MiB as a parsed manifest). A manifest that
 * large does not fit one NATS message or one peer frame: it travels in pages (manifest-pages.ts,
 * docs/protocol.md "Manifest pages").
 */
export const MAX_CHUNKS = 2_097_152;
/**
 * The most hashes a manifest sent whole may carry: in one MANIFEST or STORE_OFFER frame (1 MiB of
 * control body, ~940 KB of JSON at this count), one `store.manifest` reply or `store.create`
 * request (NATS max_payload 1 MiB). A larger manifest goes in pages of MANIFEST_PAGE_HASHES.
 */
export const MAX_WHOLE_MANIFEST_HASHES = 14_000;
/** The most hashes one manifest page carries (~550 KB of JSON: within one frame and one NATS message). */
export const MANIFEST_PAGE_HASHES = 8192;

export const ChunkSizeSchema = z
  .number()
  .int()
  .min(MIN_CHUNK_SIZE, `chunk size must be at least ${MIN_CHUNK_SIZE} bytes`)
  .max(MAX_CHUNK_SIZE, `chunk size must be at most ${MAX_CHUNK_SIZE} bytes`)
  .refine((n) => n % MIN_CHUNK_SIZE === 0, `chunk size must be a multiple of ${MIN_CHUNK_SIZE} bytes (so chunks are page aligned)`);

/** What a manifest says of its file besides the chunk hashes (a manifest page repeats them). */
const manifestFacts = {
  fileId: FileIdSchema,
  name: FileNameSchema,
  size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  chunkSize: ChunkSizeSchema,
};

export const ManifestSchema = z
  .object({
    ...manifestFacts,
    /** SHA-256 of each chunk, in order. */
    hashes: z.array(Sha256HexSchema).max(MAX_CHUNKS, `a file may have at most ${MAX_CHUNKS} chunks: use a larger chunk size`),
  })
  .strict();
export type Manifest = z.infer<typeof ManifestSchema>;

export const FileStateSchema = z.enum(['partial', 'complete']);
export type FileState = z.infer<typeof FileStateSchema>;

/** The seed's tfile_def: one entry of the file list. */
export const TFileDefSchema = z.object({
  fileId: FileIdSchema,
  name: FileNameSchema,
  size: z.number().int().min(0),
  chunkSize: z.number().int().positive(),
  chunkCount: z.number().int().min(0),
  chunksPresent: z.number().int().min(0),
  state: FileStateSchema,
  /** Pinned on this node (`swarmshare pin`): watermark GC never evicts it. Absent: not pinned. */
  pinned: z.boolean().optional(),
});
export type TFileDef = z.infer<typeof TFileDefSchema>;

export const LeaseModeSchema = z.enum(['read', 'write']);
export type LeaseMode = z.infer<typeof LeaseModeSchema>;

/** A lease as it crosses processes: the co-located gateway maps [offset, offset+length) of path. */
export const LeaseSchema = z.object({
  leaseId: z.string().min(1).max(64),
  fileId: FileIdSchema,
  index: z.number().int().min(0),
  mode: LeaseModeSchema,
  path: z.string().min(1),
  offset: z.number().int().min(0),
  length: z.number().int().min(0),
  expiresAt: z.number().int(),
});
export type Lease = z.infer<typeof LeaseSchema>;

// ---- chunk-store requests (subjects in storeSubjects(nodeId)) ----
/** A bitfield of a file's chunks, base64 (Bitfield.toBase64), no longer than MAX_CHUNKS bits need (349,528 characters). */
export const ChunkSetSchema = z
  .string()
  .max(Math.ceil(Math.ceil(MAX_CHUNKS / 8) / 3) * 4)
  .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'a chunk set is a base64 bitfield');
/**
 * `share` (issue 14): the chunks this node will hold, when it holds only a share of the file (a
 * replica): only their bytes are allocated and counted. Absent: the whole file.
 */
export const CreateFileRequestSchema = z
  .object({ manifest: ManifestSchema.refine((m) => m.hashes.length <= MAX_WHOLE_MANIFEST_HASHES, `a manifest sent whole has at most ${MAX_WHOLE_MANIFEST_HASHES} hashes: send it in pages (store.create.page)`), share: ChunkSetSchema.optional() })
  .strict();
export type CreateFileRequest = z.infer<typeof CreateFileRequestSchema>;

/**
 * One page of a manifest: the file's facts and `hashes`, the chunk hashes from index `from` on. Every
 * page but the last carries exactly the page size asked for; the last one the rest (docs/protocol.md
 * "Manifest pages").
 */
export const ManifestPageSchema = z
  .object({
    ...manifestFacts,
    chunkCount: z.number().int().min(0).max(MAX_CHUNKS, `a file may have at most ${MAX_CHUNKS} chunks: use a larger chunk size`),
    from: z.number().int().min(0).max(MAX_CHUNKS),
    hashes: z.array(Sha256HexSchema).max(MANIFEST_PAGE_HASHES, `a manifest page carries at most ${MANIFEST_PAGE_HASHES} hashes`),
  })
  .strict();
export type ManifestPage = z.infer<typeof ManifestPageSchema>;
/** `store.manifest.page`: `count` hashes (at most MANIFEST_PAGE_HASHES) from index `from`. */
export const ManifestPageRequestSchema = z
  .object({ fileId: FileIdSchema, from: z.number().int().min(0).max(MAX_CHUNKS), count: z.number().int().min(1).max(MANIFEST_PAGE_HASHES) })
  .strict();
export type ManifestPageRequest = z.infer<typeof ManifestPageRequestSchema>;
/**
 * `store.create.page`: a create whose manifest is too large for one message, page by page, in order
 * (`from` 0 first). `share` (as in CreateFileRequest) rides on the first page. The last page creates the file.
 */
export const CreateFilePageRequestSchema = z.object({ page: ManifestPageSchema, share: ChunkSetSchema.optional() }).strict();
export type CreateFilePageRequest = z.infer<typeof CreateFilePageRequestSchema>;
/** A `store.create.page` reply for every page but the last (that one answers the file's FileDef): hashes taken so far. */
export const CreateFilePageReplySchema = z.object({ fileId: FileIdSchema, received: z.number().int().min(0) });
export type CreateFilePageReply = z.infer<typeof CreateFilePageReplySchema>;
/** A writer's session id: new for every gateway process (see WriterHeartbeatRequestSchema). */
export const WriterSessionSchema = z.string().min(1).max(64);
/**
 * `owner`: the writer's session id. A write lock taken with it lives as long as the session does
 * (hello and heartbeats on the store's `writer` subject), not for the whole LEASE_TTL_MS.
 */
export const LocationRequestSchema = z
  .object({ fileId: FileIdSchema, index: z.number().int().min(0), mode: LeaseModeSchema, owner: WriterSessionSchema.optional() })
  .strict();
export type LocationRequest = z.infer<typeof LocationRequestSchema>;
/** Most leases one `location.many` request asks for (a fetcher's pipeline refill). */
export const MAX_LEASES_PER_REQUEST = 256;
export const LocationManyRequestSchema = z.object({ leases: z.array(LocationRequestSchema).min(1).max(MAX_LEASES_PER_REQUEST) }).strict();
export type LocationManyRequest = z.infer<typeof LocationManyRequestSchema>;
/**
 * A writer session's heartbeat. `hello` is its first one: the store then releases the write locks
 * of every other session of this node (one gateway per node, so those are its dead predecessors).
 */
export const WriterHeartbeatRequestSchema = z.object({ owner: WriterSessionSchema, hello: z.boolean().optional() }).strict();
export type WriterHeartbeatRequest = z.infer<typeof WriterHeartbeatRequestSchema>;
/** How many chunk locks the heartbeat released (those of dead sessions). */
export const WriterHeartbeatReplySchema = z.object({ released: z.number().int().min(0) });

/**
 * `written`: bytes the writer put in the region. If given and not equal to the lease's length, the
 * close fails with BAD_LENGTH, the lock is released and the chunk stays missing: this is also how a
 * writer abandons a chunk (e.g. its source peer died mid-transfer).
 * `sha256`: the SHA-256 (hex) of exactly the bytes the writer put in the region, computed as it wrote
 * them (the co-located gateway does, while the bytes are in the CPU cache). A cross-check only: the
 * store always hashes the region itself and refuses the close when the two differ, so a digest
 * never marks a chunk present on trust (issue 11).
 */
export const CloseRequestSchema = z
  .object({
    leaseId: z.string().min(1).max(64),
    written: z.number().int().min(0).optional(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256 in lowercase hex').optional(),
    /**
     * The writer gives the chunk up (a refused or cancelled request, shutdown): the lock is released,
     * nothing is verified, the chunk stays missing, and the reply says `available: false`. Not an
     * error and not a rejected chunk (a close short of the length used to say this, and read as a
     * short write: issue 13).
     */
    abandon: z.literal(true).optional(),
  })
  .strict();
export type CloseRequest = z.infer<typeof CloseRequestSchema>;
export const CloseReplySchema = z.object({ leaseId: z.string(), fileId: FileIdSchema, index: z.number().int(), available: z.boolean(), fileComplete: z.boolean() });
export type CloseReply = z.infer<typeof CloseReplySchema>;
/** Most closes one `close.many` request carries (a fetcher's chunks that arrived while a close was in flight). */
export const MAX_CLOSES_PER_REQUEST = 256;
export const CloseManyRequestSchema = z.object({ closes: z.array(CloseRequestSchema).min(1).max(MAX_CLOSES_PER_REQUEST) }).strict();
export type CloseManyRequest = z.infer<typeof CloseManyRequestSchema>;
/** A `*.many` reply: one verdict per request, in request order, each in the envelope a single request would get. */
export interface ManyReply<R> {
  results: Array<{ ok: true; result: R } | { ok: false; error: ErrorBody }>;
}
function manyReplySchema<T extends z.ZodType>(result: T) {
  return z.object({
    results: z.array(
      z.discriminatedUnion('ok', [
        z.object({ ok: z.literal(true), result }),
        z.object({ ok: z.literal(false), error: z.object({ code: z.enum(ErrorCodes), message: z.string() }) }),
      ]),
    ),
  });
}
export const CloseManyReplySchema = manyReplySchema(CloseReplySchema);
export type CloseManyReply = z.infer<typeof CloseManyReplySchema>;
export const LocationManyReplySchema = manyReplySchema(LeaseSchema);
export type LocationManyReply = z.infer<typeof LocationManyReplySchema>;
export const FileIdRequestSchema = z.object({ fileId: FileIdSchema }).strict();
export type FileIdRequest = z.infer<typeof FileIdRequestSchema>;
/** Most chunk indexes one verify/repair request names; more means "check the whole file" (omit them). */
export const MAX_VERIFY_INDEXES = 1024;
/**
 * Re-hash present chunks of a file from the bytes on disk (all of them when `indexes` is omitted);
 * a chunk that fails is marked missing. See docs/architecture.md "Corrupt chunks".
 */
export const VerifyChunksRequestSchema = z
  .object({
    fileId: FileIdSchema,
    indexes: z.array(z.number().int().min(0)).min(1).max(MAX_VERIFY_INDEXES).optional(),
  })
  .strict();
export type VerifyChunksRequest = z.infer<typeof VerifyChunksRequestSchema>;
/** `checked`: present chunks re-hashed; `corrupt`: those that failed, now missing (bitmap and index). */
export const VerifyChunksReplySchema = z.object({
  fileId: FileIdSchema,
  checked: z.number().int().min(0),
  corrupt: z.array(z.number().int().min(0)),
});
export type VerifyChunksReply = z.infer<typeof VerifyChunksReplySchema>;
/** The gateway's repair: verify (as above), then fetch what failed again from the swarm. */
export const RepairReplySchema = VerifyChunksReplySchema.extend({
  /** The download that fetches the corrupt chunks again; absent when nothing was corrupt. */
  download: z.object({ state: z.string() }).passthrough().optional(),
});
export type RepairReply = z.infer<typeof RepairReplySchema>;
/** A chunk-store found corrupt chunks of a file (scrub, or a check it was asked for); its gateway repairs them. */
export const ChunksCorruptEventSchema = z.object({ nodeId: NodeIdSchema, fileId: FileIdSchema, indexes: z.array(z.number().int().min(0)).min(1) });
export type ChunksCorruptEvent = z.infer<typeof ChunksCorruptEventSchema>;
export const HaveReplySchema = z.object({
  fileId: FileIdSchema,
  chunkCount: z.number().int().min(0),
  present: z.number().int().min(0),
  /** base64 of the bitfield: bit i (MSB first within each byte) set = chunk i present. */
  bitfield: z.string(),
});
export type HaveReply = z.infer<typeof HaveReplySchema>;
/**
 * Where a file's bytes are, for the co-located gateway's reads: present chunks never change (they
 * are verified, and nothing deletes them), so the gateway reads them without a lease per chunk.
 */
export const FileLayoutSchema = HaveReplySchema.extend({
  path: z.string().min(1),
  size: z.number().int().min(0),
  chunkSize: z.number().int().min(1),
});
export type FileLayout = z.infer<typeof FileLayoutSchema>;
export const StoreStatsSchema = z.object({
  nodeId: NodeIdSchema,
  capacity: z.number().int().min(0),
  used: z.number().int().min(0),
  free: z.number().int().min(0),
  files: z.number().int().min(0),
});
export type StoreStats = z.infer<typeof StoreStatsSchema>;
export const EmptyRequestSchema = z.object({}).strict();

// ---- tracker requests ----
export const AnnounceSchema = z
  .object({
    nodeId: NodeIdSchema,
    address: PeerAddressSchema,
    capacity: z.number().int().min(0),
    free: z.number().int().min(0),
    /** Files this node holds in full. */
    complete: z.array(FileIdSchema).max(100_000).default([]),
    /** Files this node holds in part. */
    partial: z.array(FileIdSchema).max(100_000).default([]),
    /**
     * Of `partial`, the files it is downloading right now (leecher); the others it only holds in
     * part (a partial holder, e.g. what a failed download left). Unset (older gateways): all of
     * `partial` counts as downloading.
     */
    downloading: z.array(FileIdSchema).max(100_000).optional(),
    /**
     * Of `complete` and `partial`, the files pinned on this node (`swarmshare pin`), so `ls` shows
     * pins from the tracker alone. Unset (older gateways): unknown, and `ls` asks the node itself.
     */
    pinned: z.array(FileIdSchema).max(100_000).optional(),
  })
  .strict();
export type Announce = z.input<typeof AnnounceSchema>;

export const PeerRecordSchema = z.object({
  nodeId: NodeIdSchema,
  address: PeerAddressSchema,
  capacity: z.number().int().min(0),
  free: z.number().int().min(0),
  lastSeen: z.number().int(),
  files: z.number().int().min(0),
});
export type PeerRecord = z.infer<typeof PeerRecordSchema>;

/** Most unknown file ids one announce reply lists (the rest come in later replies). */
export const MAX_UNKNOWN_PER_ANNOUNCE = 64;
/**
 * The tracker's answer to an announce: the peer as recorded, and `unknown`, the announced files it
 * has no record of (e.g. Redis lost its data). A node that holds one of them in full registers it
 * again, so the registry rebuilds itself from the nodes.
 */
export const AnnounceReplySchema = PeerRecordSchema.extend({
  unknown: z.array(FileIdSchema).max(MAX_UNKNOWN_PER_ANNOUNCE).default([]),
  /**
   * Announced files that were deleted everywhere (`rm --everywhere`) while this node was away: the
   * node deletes its copy (the tracker's tombstone, kept TOMBSTONE_TTL_MS).
   */
  deleted: z.array(FileIdSchema).max(MAX_UNKNOWN_PER_ANNOUNCE).default([]),
});
export type AnnounceReply = z.infer<typeof AnnounceReplySchema>;

export const RegisterFileSchema = z
  .object({
    fileId: FileIdSchema,
    name: FileNameSchema,
    size: z.number().int().min(0),
    chunkSize: ChunkSizeSchema,
    chunkCount: z.number().int().min(0).max(MAX_CHUNKS),
    /** SHA-256 of the whole content. */
    hash: Sha256HexSchema,
    /** The node that registers it holds it in full: it becomes the first seeder. */
    nodeId: NodeIdSchema,
    /** Replication: the peers holding the acked copies; they are listed as seeders too. */
    holders: z.array(NodeIdSchema).max(1000).optional(),
    /** Replication: copies of every chunk placed on `holders`. */
    replicas: z.number().int().min(1).max(16).optional(),
    /**
     * A node registering again a file the tracker lost (not a new share): refused with NOT_FOUND
     * when the file was deleted everywhere, so a deleted file is not brought back by a node that was away.
     */
    restore: z.boolean().optional(),
    /**
     * `share --ttl`: the file expires this long after this registration (the tracker's clock). A
     * registration with a TTL sets or renews the expiry; one without leaves it as it is.
     */
    ttlMs: z.number().int().min(MIN_TTL_MS).max(MAX_TTL_MS).optional(),
  })
  .strict();
export type RegisterFile = z.infer<typeof RegisterFileSchema>;

// ---- garbage collection (issue 14) ----
export const GcReportSchema = z.object({
  nodeId: NodeIdSchema,
  trigger: z.enum(['timer', 'on-demand']),
  /** Bytes: the store's capacity, the watermarks as bytes, and what its files took before and after. */
  capacity: z.number().int().min(0),
  high: z.number().int().min(0),
  low: z.number().int().min(0),
  usedBefore: z.number().int().min(0),
  usedAfter: z.number().int().min(0),
  /** ttl: past its TTL (evicted whatever the watermarks, pins and copies); watermark: LRU above the high watermark. */
  evicted: z.array(z.object({ fileId: FileIdSchema, name: z.string(), bytes: z.number().int().min(0), reason: z.enum(['watermark', 'ttl']) })),
  /** Complete files GC would have evicted but kept, and why (at most 100 listed). */
  kept: z.array(z.object({ fileId: FileIdSchema, reason: z.string() })),
});
export type GcReport = z.infer<typeof GcReportSchema>;

// ---- pins (issue 14) ----
/** `swarmshare pin|unpin ID --node N`: the node's pin of a file it holds. */
export const PinReplySchema = z.object({ nodeId: NodeIdSchema, fileId: FileIdSchema, pinned: z.boolean() });
export type PinReply = z.infer<typeof PinReplySchema>;
/** The store's side: set or clear the pin (the gateway passes `swarmshare pin|unpin` on). */
export const SetPinnedRequestSchema = z.object({ fileId: FileIdSchema, pinned: z.boolean() }).strict();

// ---- delete (issue 14) ----
/** What one node's delete did: `deleted` false when the node did not hold the file (idempotent). */
export const NodeDeleteReplySchema = z.object({
  nodeId: NodeIdSchema,
  fileId: FileIdSchema,
  deleted: z.boolean(),
  /** Bytes of the file's data the node released (its size; 0 when it did not hold it). */
  bytes: z.number().int().min(0),
  /** Downloads or replicated uploads of the file this node cancelled. */
  cancelled: z.number().int().min(0).default(0),
});
export type NodeDeleteReply = z.infer<typeof NodeDeleteReplySchema>;

/** `nodeId`: delete from that node only; `everywhere`: from every holder, and the tracker's record. */
export const DeleteFileRequestSchema = z
  .object({ fileId: FileIdSchema, nodeId: NodeIdSchema.optional(), everywhere: z.boolean().optional() })
  .strict()
  .refine((r) => (r.nodeId !== undefined) !== (r.everywhere === true), { message: 'give exactly one of nodeId and everywhere: true' });
export type DeleteFileRequest = z.infer<typeof DeleteFileRequestSchema>;

/** Per node: what it did, or why it could not (a node down now deletes when it announces again, for `everywhere`). */
export const DeleteNodeResultSchema = z.object({
  nodeId: NodeIdSchema,
  deleted: z.boolean(),
  bytes: z.number().int().min(0),
  cancelled: z.number().int().min(0),
  error: z.string().optional(),
});
export const DeleteFileReplySchema = z.object({
  fileId: FileIdSchema,
  everywhere: z.boolean(),
  /** `everywhere`: the tracker's record was removed and a tombstone set. */
  tombstone: z.boolean(),
  nodes: z.array(DeleteNodeResultSchema),
});
export type DeleteFileReply = z.infer<typeof DeleteFileReplySchema>;

/** `reporter` could not reach `nodeId` (connection refused, reset or timed out). */
export const PeerUnreachableSchema = z.object({ nodeId: NodeIdSchema, reporter: NodeIdSchema }).strict();
export type PeerUnreachable = z.infer<typeof PeerUnreachableSchema>;

export const PeerRefSchema = z.object({ nodeId: NodeIdSchema, address: PeerAddressSchema.nullable() });
export type PeerRef = z.infer<typeof PeerRefSchema>;

export const FileRecordSchema = z.object({
  fileId: FileIdSchema,
  name: FileNameSchema,
  size: z.number().int().min(0),
  chunkSize: z.number().int().positive(),
  chunkCount: z.number().int().min(0),
  hash: Sha256HexSchema,
  registeredAt: z.number().int(),
  downloads: z.number().int().min(0),
  /** Copies of every chunk the replicated upload placed (absent for a plain share). */
  replicas: z.number().int().min(0).optional(),
  /** Live peers only. Seeders hold the whole file. */
  seeders: z.array(PeerRefSchema),
  /** Replica holders that hold only their share of a replicated upload; they serve it like seeders. Always set by the tracker. */
  partial: z.array(PeerRefSchema).optional(),
  leechers: z.array(PeerRefSchema),
  /** `share --ttl`: when the file expires (ms since the epoch, the tracker's clock); absent: never. */
  expiresAt: z.number().int().optional(),
  /** Of `seeders` and `partial`, the holders whose last announce said they pinned the file. Always set by the tracker. */
  pinnedBy: z.array(NodeIdSchema).optional(),
  /** Of `seeders` and `partial`, holders whose announce does not report pins (older gateways): ask them. */
  pinsUnknown: z.array(NodeIdSchema).optional(),
});
export type FileRecord = z.infer<typeof FileRecordSchema>;

export const FindFileSchema = z.object({ name: FileNameSchema }).strict();
export const DownloadStartedSchema = z.object({ fileId: FileIdSchema, nodeId: NodeIdSchema }).strict();
export const DownloadCompletedSchema = z
  .object({
    fileId: FileIdSchema,
    nodeId: NodeIdSchema,
    /** Bytes received from each holder. */
    from: z.array(z.object({ nodeId: NodeIdSchema, bytes: z.number().int().min(0) })).max(10_000).default([]),
  })
  .strict();
export type DownloadCompleted = z.input<typeof DownloadCompletedSchema>;

// ---- peer-gateway requests ----
/** How a fetch finds holders: the tracker, a flood query with connect-back, or iterative neighbour lookup. */
export const DiscoverModeSchema = z.enum(['tracker', 'flood', 'iterative']);
export type DiscoverMode = z.infer<typeof DiscoverModeSchema>;
export const FetchRequestSchema = z
  .object({
    fileId: FileIdSchema,
    /** Unset: the tracker when it answers, iterative lookup when it does not. */
    discover: DiscoverModeSchema.optional(),
    /** Extra overlay peers to join before looking (`swarmshare fetch --peers`). */
    peers: z.array(PeerAddressSchema).max(64).optional(),
  })
  .strict();
/** A holder a fetch found, and how (closing summary). */
export const FoundHolderSchema = z.object({ nodeId: z.string(), address: z.string(), via: DiscoverModeSchema, afterMs: z.number().int().min(0) });
export type FoundHolder = z.infer<typeof FoundHolderSchema>;
export const DownloadStateSchema = z.enum(['queued', 'running', 'complete', 'failed']);
export const DownloadStatusSchema = z.object({
  fileId: FileIdSchema,
  state: DownloadStateSchema,
  chunkCount: z.number().int().min(0),
  chunksDone: z.number().int().min(0),
  bytesDone: z.number().int().min(0),
  size: z.number().int().min(0),
  /** Bytes received from each holder, by node id. */
  fromPeers: z.record(z.string(), z.number().int().min(0)),
  error: z.string().optional(),
  /** The stable code of `error` (NO_SPACE, HASH_MISMATCH, UNAVAILABLE, ...), so a client can act on it. */
  errorCode: z.enum(ErrorCodes).optional(),
  /** How holders were found (trackerless discovery), for the closing summary. */
  discovery: z.object({ mode: DiscoverModeSchema, holders: z.array(FoundHolderSchema).max(1000), messages: z.number().int().min(0).optional() }).optional(),
  /** The node held every chunk before this fetch: nothing was downloaded, and no download is counted. */
  alreadyHeld: z.boolean().optional(),
});
export type DownloadStatus = z.infer<typeof DownloadStatusSchema>;
export const GatewayInfoSchema = z.object({
  nodeId: NodeIdSchema,
  address: PeerAddressSchema,
  connections: z.number().int().min(0),
  /** Overlay neighbours (trackerless discovery). */
  neighbours: z.array(z.object({ nodeId: z.string(), address: z.string(), direction: z.enum(['out', 'in']) })).optional(),
});
export type GatewayInfo = z.infer<typeof GatewayInfoSchema>;

// ---- events ----
export const FileCompletedEventSchema = z.object({ nodeId: NodeIdSchema, fileId: FileIdSchema });
export type FileCompletedEvent = z.infer<typeof FileCompletedEventSchema>;
export const DownloadProgressEventSchema = DownloadStatusSchema.extend({ nodeId: NodeIdSchema });
export type DownloadProgressEvent = z.infer<typeof DownloadProgressEventSchema>;

/** Every reply on a request subject has this envelope, so any NATS client can tell success from failure. */
export type Reply<T> = { ok: true; result: T } | { ok: false; error: { code: string; message: string } };

/** Parse or throw a BAD_REQUEST SwarmError naming the offending fields. */
export function describeZodError(err: z.ZodError): string {
  // A value that is not an object (e.g. a file id) has no field to name: the message alone says it.
  return err.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ');
}
