import { closeSync, openSync, readSync } from 'node:fs';
import mmap from '@riaskov/mmap-io';

export type MapMode = 'read' | 'write';

/**
 * mmap-io's JS wrapper replaces `sync` on the native addon's exports object when it is loaded. The
 * addon is loaded once per process but Jest loads the wrapper once per test file, and a second load
 * installs a broken `sync` ("raw_sync_fn_ is not a function"). Keep the first working one on the addon.
 */
const SYNC_KEY = '__swarmshareMsync';
const addon = mmap as typeof mmap & { [SYNC_KEY]?: typeof mmap.sync };
const msync: typeof mmap.sync = (addon[SYNC_KEY] ??= mmap.sync);

/**
 * mmap-io hands the file offset to mmap(2) as a C int: past 2^31 - 1 it wraps, and a mapping would
 * silently start at another part of the file (a 6 GiB file served chunk 68,381 from byte 186 MiB)
 * or fail (EOVERFLOW). Nothing is mapped from past it; those regions are read (readRegion).
 */
export const MAX_MAP_OFFSET = 2 ** 31 - 1;

/** [offset, offset+length) of a file, read into a Buffer of its own (pread): for what mapRegion cannot map. */
export function readRegion(path: string, offset: number, length: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  const fd = openSync(path, 'r');
  try {
    for (let got = 0; got < length; ) {
      const n = readSync(fd, buf, got, length - got, offset + got);
      if (n === 0) throw new RangeError(`${path} ends before byte ${offset + length} (read ${got} of ${length} bytes at ${offset})`);
      got += n;
    }
  } finally {
    closeSync(fd);
  }
  return buf;
}

/**
 * Map [offset, offset+length) of a file with MAP_SHARED and return a Buffer over exactly that range.
 * The chunk-store and the co-located gateway map the same file this way, so both see one page cache.
 *
 * mmap-io has no explicit munmap: the mapping is released when the Buffer is garbage-collected.
 * Callers "close" a mapping by syncing it and dropping every reference (see chunk-store's close()).
 * The file must already be preallocated to cover the range (see preallocate.ts): mapping past EOF
 * would turn the first write into a SIGBUS.
 */
export function mapRegion(path: string, offset: number, length: number, mode: MapMode): Buffer {
  if (length === 0) return Buffer.alloc(0);
  const page = mmap.PAGESIZE;
  const aligned = offset - (offset % page);
  const delta = offset - aligned;
  if (aligned > MAX_MAP_OFFSET) throw new RangeError(`cannot map ${path} at byte ${offset}: mmap-io takes file offsets up to ${MAX_MAP_OFFSET} (read it with readRegion)`);
  const fd = openSync(path, mode === 'write' ? 'r+' : 'r');
  try {
    const prot = mode === 'write' ? mmap.PROT_READ | mmap.PROT_WRITE : mmap.PROT_READ;
    const buf = mmap.map(length + delta, prot as 1 | 3, mmap.MAP_SHARED, fd, aligned, mmap.MADV_SEQUENTIAL);
    return delta === 0 ? buf : buf.subarray(delta);
  } finally {
    // The mapping keeps its own reference to the file.
    closeSync(fd);
  }
}

/** msync part of a mapped region to disk (blocking). Works on any view of a mapping made by mapRegion. */
export function syncRegion(view: Buffer, offset = 0, length = view.length - offset): void {
  if (length <= 0) return;
  // msync wants a page-aligned address. The mapping itself starts on a page boundary, so widen the
  // range to pages relative to the start of the whole mapping (the view's ArrayBuffer).
  const whole = Buffer.from(view.buffer, 0, view.buffer.byteLength);
  const start = view.byteOffset + offset;
  const alignedStart = start - (start % mmap.PAGESIZE);
  msync(whole, alignedStart, start + length - alignedStart, true, false);
}
