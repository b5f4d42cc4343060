import { createHash } from 'node:crypto';
import type { Manifest } from './schemas';

/**
 * File identity (docs/file-id.md):
 *
 *   fileId = hex( SHA-256( "swarmshare-file-v1\0" || u64be(size) || u32be(chunkSize) || h_0 || h_1 || ... ) )
 *
 * where h_i is the raw 32-byte SHA-256 of chunk i. The name is not part of the id: the same bytes
 * shared under two names are one file. Any manifest can be checked against its id.
 */
export const FILE_ID_DOMAIN = Buffer.from('swarmshare-file-v1\0', 'latin1');

export function chunkCount(size: number, chunkSize: number): number {
  return size === 0 ? 0 : Math.ceil(size / chunkSize);
}

/** Length of chunk `index`: chunkSize for all but a short last chunk. */
export function chunkLength(size: number, chunkSize: number, index: number): number {
  const count = chunkCount(size, chunkSize);
  if (!Number.isInteger(index) || index < 0 || index >= count) {
    throw new RangeError(`chunk index ${index} is out of range (file has ${count} chunks)`);
  }
  return index === count - 1 ? size - index * chunkSize : chunkSize;
}

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export function computeFileId(size: number, chunkSize: number, chunkHashes: readonly string[]): string {
  const h = createHash('sha256');
  const head = Buffer.alloc(12);
  head.writeBigUInt64BE(BigInt(size), 0);
  head.writeUInt32BE(chunkSize, 8);
  h.update(FILE_ID_DOMAIN).update(head);
  for (const hex of chunkHashes) h.update(Buffer.from(hex, 'hex'));
  return h.digest('hex');
}

/** True when the manifest's chunk count matches its size and its id matches its content. */
export function manifestIsConsistent(m: Manifest): boolean {
  return m.hashes.length === chunkCount(m.size, m.chunkSize) && computeFileId(m.size, m.chunkSize, m.hashes) === m.fileId;
}
