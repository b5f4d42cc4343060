import type { Manifest, ManifestPage } from '../../schemas';

/** A chunk mapped for reading (a read lease); release() closes the lease. */
export interface ReadRegion {
  readonly data: Buffer;
  release(): Promise<void>;
}

/** A chunk mapped for writing (a write lease). */
export interface WriteRegion {
  readonly data: Buffer;
  /** The chunk's length, when known without touching `data` (which may map the region). */
  readonly length?: number;
  /**
   * Optional pwrite path: write `slice` at byte `at` of the chunk without touching `data`. Writing
   * through a fresh MAP_SHARED mapping takes a page fault per 4 KiB page; pwrite is many times
   * cheaper (docs/performance.md), so a region that offers it gets PIECE bytes this way.
   */
  write?(slice: Buffer, at: number): void;
  /** Close the lease with the bytes written: the store verifies the hash; rejects with HASH_MISMATCH/BAD_LENGTH. */
  commit(written: number): Promise<void>;
  /** Give the chunk up (close short); never throws. */
  abandon(): Promise<void>;
}

/** Where a PIECE's bytes go when they do not go into a Buffer (PeerConnection.sendRequest). */
export interface ChunkSink {
  readonly length: number;
  write(slice: Buffer, at: number): void;
}

/** Replication (issue 3): the space a pushed upload asks the receiver to reserve. */
export interface OfferReservation {
  uploadId: string;
  bytes: number;
  /** The chunks placed on the receiver (a base64 Bitfield), so it allocates only their space. */
  chunks?: string;
}

/** A write region's length, without mapping it when the region knows it (`length`). */
export function writeRegionLength(r: WriteRegion): number {
  return r.length ?? r.data.length;
}

/** Put `slice` at byte `at` of the region: through its pwrite path when it has one, else into its mapping. */
export function writeIntoRegion(r: WriteRegion, slice: Buffer, at: number): void {
  if (r.write) r.write(slice, at);
  else slice.copy(r.data, at);
}

/** A connection that can be told which chunks were stored after its peer asked for a HAVE (PeerConnection is one). */
export interface HaveUpdateTarget {
  /** HAVE_UPDATE: a no-op unless the peer announced the "have-updates" feature and the connection is open. */
  sendHaveUpdate(fileId: string, indexes: number[]): void;
  readonly closed: Promise<string>;
}

/**
 * What a connection does with the requests its peer sends. The gateway implements it over its
 * chunk-store (LocalPeerHandler); a connection without one refuses every request politely.
 * Errors thrown are sent back as ERROR{id} with their code.
 */
export interface PeerRequestHandler {
  have(fileId: string): Promise<{ chunkCount: number; bitfield: string }>;
  manifest(fileId: string): Promise<Manifest>;
  /** One page of the manifest (feature manifest-pages). Optional: without it pages are cut from manifest(). */
  manifestPage?(fileId: string, from: number, count: number): Promise<ManifestPage>;
  /**
   * `from`: the requesting peer's node id, given only when that peer announced the "try-peers"
   * feature; the handler may then refuse with TRY_PEERS (super-seeding), and must not otherwise.
   */
  openRead(fileId: string, index: number, from?: string): Promise<ReadRegion>;
  /** STORE_OFFER: make room for the file (idempotent); with a reservation, reserve it first (NO_SPACE if it does not fit). */
  offer(manifest: Manifest, reservation?: OfferReservation): Promise<void>;
  openWrite(fileId: string, index: number): Promise<WriteRegion>;
  /**
   * RECEIPT: peer `from` finished a download and got `bytes` (`chunks` chunks) of the file from us
   * (at most what this connection served it: checked before). `authenticated`: `from` was proven by
   * a TLS certificate, not just claimed in HELLO. Optional: without it the feature is not announced.
   */
  receipt?(r: { fileId: string; bytes: number; chunks: number }, from: string, authenticated: boolean): Promise<void>;
  /**
   * CORRUPT: peer `from` says chunk `index` it got from us failed its hash. Optional: without it the
   * "corrupt-notice" feature is not announced. Must return at once (the check runs in the background).
   */
  corrupt?(r: { fileId: string; index: number }, from: string): void;
  /** Have-updates: the peer on `target` asked for this file's HAVE; tell it about chunks stored from now on. Optional. */
  watchHave?(fileId: string, target: HaveUpdateTarget): void;
}
