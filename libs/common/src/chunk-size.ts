import { DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE } from './schemas';

/** Files up to this size keep DEFAULT_CHUNK_SIZE chunks: enough chunks for several holders to serve at once. */
export const SMALL_FILE_LIMIT = 256 * 1024 * 1024;
/** Larger files: Dragonfly's rule, next_pow2(size / 500), clamped to 4 MiB .. 64 MiB. */
export const LARGE_FILE_MIN_CHUNK = 4 * 1024 * 1024;
export const TARGET_CHUNKS = 500;

/**
 * The chunk size a file gets when `--chunk-size` does not say: small files keep small chunks, large
 * ones about 500 chunks of a power-of-two size (a 1 GiB file: 4 MiB; 100 GiB: 64 MiB).
 */
export function chunkSizeFor(size: number): number {
  if (size <= SMALL_FILE_LIMIT) return DEFAULT_CHUNK_SIZE;
  const want = Math.ceil(size / TARGET_CHUNKS);
  let p = LARGE_FILE_MIN_CHUNK;
  while (p < want && p < MAX_CHUNK_SIZE) p *= 2;
  return p;
}
