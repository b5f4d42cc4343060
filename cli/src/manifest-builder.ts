import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { type Manifest, ManifestSchema, chunkCount, computeFileId, MAX_CHUNKS, SwarmError } from '@swarmshare/common/contracts';
import { hashFileOnce } from '@swarmshare/common/hashing';

export interface HashedFile {
  manifest: Manifest;
  /** SHA-256 of the whole content (the tracker's "hash"). */
  contentHash: string;
}

/** Hash a file once (each chunk and the whole content, over the cores): the seed's "create hash of the file". */
export async function hashFile(path: string, chunkSize: number, name = basename(path)): Promise<HashedFile> {
  const { size } = await stat(path);
  const count = chunkCount(size, chunkSize);
  if (count > MAX_CHUNKS) {
    throw new SwarmError('TOO_LARGE', `${path} would have ${count} chunks, more than ${MAX_CHUNKS}: use --chunk-size ${Math.ceil(size / MAX_CHUNKS / 65536) * 64}KiB or larger`);
  }
  const hashed = await hashFileOnce(path, chunkSize, { contentHash: true });
  if (hashed.size !== size) throw new SwarmError('BAD_LENGTH', `${path} changed size while being shared`);
  const manifest = ManifestSchema.parse({ fileId: computeFileId(size, chunkSize, hashed.chunkHashes), name, size, chunkSize, hashes: hashed.chunkHashes });
  return { manifest, contentHash: hashed.contentHash! };
}
