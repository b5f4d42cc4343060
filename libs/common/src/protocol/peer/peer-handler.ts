import type { Manifest } from '../../schemas';

/** A chunk mapped for reading (a read lease); release() closes the lease. */
export interface ReadRegion {
  readonly data: Buffer;
  release(): Promise<void>;
}

/** A chunk mapped for writing (a write lease). */
export interface WriteRegion {
  readonly data: Buffer;
  /** Close the lease with the bytes written: the store verifies the hash; rejects with HASH_MISMATCH/BAD_LENGTH. */
  commit(written: number): Promise<void>;
  /** Give the chunk up (close short); never throws. */
  abandon(): Promise<void>;
}

/**
 * What a connection does with the requests its peer sends. The gateway implements it over its
 * chunk-store (LocalPeerHandler); a connection without one refuses every request politely.
 * Errors thrown are sent back as ERROR{id} with their code.
 */
export interface PeerRequestHandler {
  have(fileId: string): Promise<{ chunkCount: number; bitfield: string }>;
  manifest(fileId: string): Promise<Manifest>;
  openRead(fileId: string, index: number): Promise<ReadRegion>;
  /** STORE_OFFER: make room for the file (idempotent). */
  offer(manifest: Manifest): Promise<void>;
  openWrite(fileId: string, index: number): Promise<WriteRegion>;
}
