import { z } from 'zod';
import { ChunkSetSchema, FileIdSchema, ManifestPageSchema, ManifestSchema, NodeIdSchema, PeerAddressSchema, MANIFEST_PAGE_HASHES, MAX_CHUNK_SIZE, MAX_CHUNKS } from '../schemas';

/** Peer protocol v1 (docs/protocol.md). Every frame: u32be length | u8 type | body. */
export const PROTOCOL_VERSION = 1;
/** Largest control frame body (JSON). A manifest of MAX_WHOLE_MANIFEST_HASHES hashes fits; larger ones go in pages. */
export const MAX_CONTROL_BODY = 1024 * 1024;
/** Largest control frame on the wire: length prefix, type byte and the largest body. */
export const MAX_CONTROL_FRAME = 4 + 1 + MAX_CONTROL_BODY;
/** Largest data frame payload: one chunk. */
export const MAX_DATA_PAYLOAD = MAX_CHUNK_SIZE;
/** Requests with an id one side may have outstanding on one connection; more is a protocol error. */
export const MAX_REQUESTS_IN_FLIGHT = 64;
/**
 * HAVE_REQUESTs (which have no id) one side may have outstanding on one connection, counted apart
 * from MAX_REQUESTS_IN_FLIGHT: a full pipeline of REQUESTs still leaves room to poll HAVEs.
 */
export const MAX_HAVE_REQUESTS_IN_FLIGHT = 64;
/** A connection that has not said HELLO by then is closed. */
export const HANDSHAKE_TIMEOUT_MS = 5000;

export enum MsgType {
  HELLO = 0x01,
  HAVE_REQUEST = 0x02,
  HAVE = 0x03,
  REQUEST = 0x04,
  PIECE = 0x05,
  CANCEL = 0x06,
  ERROR = 0x07,
  MANIFEST_REQUEST = 0x08,
  MANIFEST = 0x09,
  OK = 0x0a,
  /** One page of a manifest (feature "manifest-pages"): the answer to a MANIFEST_REQUEST with `from`. */
  MANIFEST_PAGE = 0x0b,
  /** Replication: "will you hold these chunks of this file?" */
  STORE_OFFER = 0x10,
  /** Replication: one chunk pushed to a peer that accepted the offer. */
  STORE = 0x11,
  /** Download ack (feature "receipt"): "I got these bytes of this file from you"; answered OK. */
  RECEIPT = 0x12,
  /** Discovery (feature "discovery"): "which peers are you connected to?" */
  NEIGHBOURS_REQUEST = 0x20,
  NEIGHBOURS = 0x21,
  /** Flood query: "who holds chunks of this file? connect back to origin". Not answered. */
  QUERY = 0x22,
  /** A holder, connected back to a query's origin: "I hold these chunks". Answered OK (wanted) or ERROR{id}. */
  QUERY_HIT = 0x23,
  /** Have-update (feature "have-updates"): "I have just stored these chunks of a file you asked me about". Not answered. */
  HAVE_UPDATE = 0x30,
  /** Corrupt notice (feature "corrupt-notice"): "chunk N you sent me failed its hash". Not answered. */
  CORRUPT = 0x31,
}

/** HELLO feature that announces the discovery messages (0x20-0x23). */
export const DISCOVERY_FEATURE = 'discovery';
/** Largest hop budget a QUERY may carry; a larger one is dropped (docs/protocol.md). */
export const MAX_QUERY_HOPS = 16;
/** Most peers one NEIGHBOURS answer lists. */
export const MAX_NEIGHBOURS_LISTED = 64;

/** HELLO feature that announces RECEIPT (0x12): sent only to peers that list it. */
export const RECEIPT_FEATURE = 'receipt';

/** HELLO feature: "after I asked for a file's HAVE, tell me the chunks you store later" (HAVE_UPDATE, 0x30). */
export const HAVE_UPDATES_FEATURE = 'have-updates';
/** Most chunk indexes one HAVE_UPDATE carries; a sender with more splits them. */
export const MAX_HAVE_UPDATE_INDEXES = 1024;

/**
 * HELLO feature: "I take ERROR{id, code:"TRY_PEERS"} as 'not now from you, ask other peers'", so a
 * complete holder may refuse it a chunk it just sent to someone else (super-seeding). Never sent to
 * a peer that did not list it: an old peer would count the chunk as missing at this holder.
 */
export const TRY_PEERS_FEATURE = 'try-peers';

/**
 * HELLO feature: "tell me when a chunk I served you failed its hash (CORRUPT, 0x31)". The holder
 * re-hashes that chunk and, if its copy is bad, stops advertising it and fetches it again.
 */
export const CORRUPT_NOTICE_FEATURE = 'corrupt-notice';

/**
 * HELLO feature: "ask me for a manifest in pages (MANIFEST_REQUEST with `from` and `count`, answered
 * by MANIFEST_PAGE), and I take such answers". A manifest over MAX_WHOLE_MANIFEST_HASHES hashes
 * can only be had this way; a peer without the feature gets ERROR{id, TOO_LARGE} for it.
 */
export const MANIFEST_PAGES_FEATURE = 'manifest-pages';

/** Data frames carry a fixed binary header then raw chunk bytes, streamed, never parsed as JSON. */
export const DATA_HEADER_LENGTH: Partial<Record<MsgType, number>> = {
  [MsgType.PIECE]: 4, // u32 request id
  [MsgType.STORE]: 40, // u32 request id | u32 chunk index | 32-byte file id
};

export function isDataType(t: number): boolean {
  return DATA_HEADER_LENGTH[t as MsgType] !== undefined;
}

const RequestId = z.number().int().min(0).max(0xffffffff);

/** A CLI or other client that serves nothing says HELLO with a client id and no listen address. */
export const PeerIdSchema = z.union([NodeIdSchema, z.string().regex(/^cli-[a-z0-9]{1,32}$/)]);

export const ControlSchemas = {
  [MsgType.HELLO]: z.object({
    version: z.number().int().min(1),
    nodeId: PeerIdSchema,
    listen: PeerAddressSchema.nullable(),
    features: z.array(z.string().max(32)).max(32).default([]),
  }),
  [MsgType.HAVE_REQUEST]: z.object({ fileId: FileIdSchema }),
  [MsgType.HAVE]: z.object({ fileId: FileIdSchema, chunkCount: z.number().int().min(0), bitfield: z.string().max(MAX_CONTROL_BODY) }),
  [MsgType.REQUEST]: z.object({ id: RequestId, fileId: FileIdSchema, index: z.number().int().min(0) }),
  [MsgType.CANCEL]: z.object({ id: RequestId }),
  [MsgType.ERROR]: z.object({
    id: RequestId.optional(),
    code: z.string().max(32),
    message: z.string().max(1000),
    /** The sender closes the connection after a fatal error. */
    fatal: z.boolean().default(false),
  }),
  // from/count (feature "manifest-pages", sent only to peers that listed it): one page, answered by MANIFEST_PAGE.
  [MsgType.MANIFEST_REQUEST]: z.object({
    id: RequestId,
    fileId: FileIdSchema,
    from: z.number().int().min(0).max(MAX_CHUNKS).optional(),
    count: z.number().int().min(1).max(MANIFEST_PAGE_HASHES).optional(),
  }),
  [MsgType.MANIFEST]: z.object({ id: RequestId, manifest: ManifestSchema }),
  // Not strict, as every control message (a manifest is strict; a page is checked field by field on arrival).
  [MsgType.MANIFEST_PAGE]: z.object({ ...ManifestPageSchema.shape, id: RequestId }),
  [MsgType.OK]: z.object({ id: RequestId }),
  // reservation (optional, issue 3): the receiver reserves `bytes` for upload `uploadId` with the
  // tracker before accepting; old receivers strip it. Its `chunks` (issue 14) are the chunks placed
  // on the receiver, so it allocates only their space (a sparse replica); old receivers strip it and
  // allocate the whole file.
  [MsgType.STORE_OFFER]: z.object({
    id: RequestId,
    manifest: ManifestSchema,
    reservation: z.object({ uploadId: z.string().regex(/^[a-z0-9-]{8,64}$/), bytes: z.number().int().min(0), chunks: ChunkSetSchema.optional() }).optional(),
  }),
  [MsgType.RECEIPT]: z.object({ id: RequestId, fileId: FileIdSchema, bytes: z.number().int().min(0), chunks: z.number().int().min(0) }),
  [MsgType.NEIGHBOURS_REQUEST]: z.object({ id: RequestId }),
  [MsgType.NEIGHBOURS]: z.object({
    id: RequestId,
    peers: z.array(z.object({ nodeId: NodeIdSchema, address: PeerAddressSchema })).max(MAX_NEIGHBOURS_LISTED),
  }),
  // hops is checked against MAX_QUERY_HOPS by the receiver (dropped, not a protocol error), so a
  // peer configured with a larger budget does not lose its connections.
  [MsgType.QUERY]: z.object({
    queryId: z.string().regex(/^[0-9a-f]{16,64}$/, 'query id must be 16-64 lowercase hex characters'),
    fileId: FileIdSchema,
    origin: z.object({ nodeId: NodeIdSchema, address: PeerAddressSchema }),
    hops: z.number().int().min(0).max(255),
  }),
  [MsgType.QUERY_HIT]: z.object({
    id: RequestId,
    queryId: z.string().regex(/^[0-9a-f]{16,64}$/),
    fileId: FileIdSchema,
    chunkCount: z.number().int().min(0),
    bitfield: z.string().max(MAX_CONTROL_BODY),
  }),
  // Indexes are checked against the file's chunk count (learnt from this connection's HAVE) by the receiver.
  [MsgType.HAVE_UPDATE]: z.object({
    fileId: FileIdSchema,
    indexes: z
      .array(z.number().int().min(0).max(MAX_CHUNKS - 1))
      .min(1)
      .max(MAX_HAVE_UPDATE_INDEXES, `a HAVE_UPDATE carries at most ${MAX_HAVE_UPDATE_INDEXES} chunk indexes`),
  }),
  // Not answered; the holder re-hashes at most one notice per chunk at a time (bounded on its side).
  [MsgType.CORRUPT]: z.object({ fileId: FileIdSchema, index: z.number().int().min(0).max(MAX_CHUNKS - 1) }),
} as const;

export type ControlType = keyof typeof ControlSchemas;
export type ControlBody<T extends ControlType> = z.input<(typeof ControlSchemas)[T]>;
export type ControlMessage = { [T in ControlType]: { type: T; body: z.infer<(typeof ControlSchemas)[T]> } }[ControlType];

export interface PieceHeader {
  id: number;
}
export interface StoreHeader {
  id: number;
  index: number;
  fileId: string;
}

export function decodeDataHeader(type: MsgType.PIECE, h: Buffer): PieceHeader;
export function decodeDataHeader(type: MsgType.STORE, h: Buffer): StoreHeader;
export function decodeDataHeader(type: MsgType, h: Buffer): PieceHeader | StoreHeader {
  if (type === MsgType.PIECE) return { id: h.readUInt32BE(0) };
  return { id: h.readUInt32BE(0), index: h.readUInt32BE(4), fileId: h.subarray(8, 40).toString('hex') };
}

export function encodeDataHeaderBody(type: MsgType.PIECE, h: PieceHeader): Buffer;
export function encodeDataHeaderBody(type: MsgType.STORE, h: StoreHeader): Buffer;
export function encodeDataHeaderBody(type: MsgType, h: PieceHeader | StoreHeader): Buffer {
  const buf = Buffer.alloc(DATA_HEADER_LENGTH[type]!);
  buf.writeUInt32BE(h.id, 0);
  if (type === MsgType.STORE) {
    const s = h as StoreHeader;
    buf.writeUInt32BE(s.index, 4);
    Buffer.from(s.fileId, 'hex').copy(buf, 8);
  }
  return buf;
}
