import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { type Manifest, ManifestSchema, chunkCount, computeFileId, MAX_CHUNKS, SwarmError } from '@swarmshare/common';

export interface HashedFile {
  manifest: Manifest;
  /** SHA-256 of the whole content (the tracker's "hash"). */
  contentHash: string;
}

/** Read a file once, hashing each chunk and the whole content: the seed's "create hash of the file". */
export async function hashFile(path: string, chunkSize: number, name = basename(path), onProgress?: (bytes: number) => void): Promise<HashedFile> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const count = chunkCount(size, chunkSize);
    if (count > MAX_CHUNKS) {
      throw new SwarmError('TOO_LARGE', `${path} would have ${count} chunks, more than ${MAX_CHUNKS}: use --chunk-size ${Math.ceil(size / MAX_CHUNKS / 65536) * 64}KiB or larger`);
    }
    const whole = createHash('sha256');
    const hashes: string[] = [];
    const buf = Buffer.allocUnsafe(chunkSize);
    for (let i = 0, pos = 0; i < count; i++) {
      const want = Math.min(chunkSize, size - pos);
      let got = 0;
      while (got < want) {
        const { bytesRead } = await fh.read(buf, got, want - got, pos + got);
        if (bytesRead === 0) throw new SwarmError('BAD_LENGTH', `${path} shrank while being read`);
        got += bytesRead;
      }
      const chunk = buf.subarray(0, want);
      whole.update(chunk);
      hashes.push(createHash('sha256').update(chunk).digest('hex'));
      pos += want;
      onProgress?.(pos);
    }
    const manifest = ManifestSchema.parse({ fileId: computeFileId(size, chunkSize, hashes), name, size, chunkSize, hashes });
    return { manifest, contentHash: whole.digest('hex') };
  } finally {
    await fh.close();
  }
}
