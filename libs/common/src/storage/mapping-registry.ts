import { type MapMode, MAX_MAP_OFFSET, mapRegion, readRegion, syncRegion } from './mapped-region';

/** Node 20 caps a Buffer at 4 GiB, so large files are mapped in windows of whole chunks. */
export const DEFAULT_WINDOW_BYTES = 256 * 1024 * 1024;

export interface MappedFile {
  fileId: string;
  path: string;
  size: number;
  chunkSize: number;
}

interface Mapping {
  path: string;
  mode: MapMode;
  buffer: Buffer;
}

export type Mapper = (path: string, offset: number, length: number, mode: MapMode) => Buffer;

/**
 * The seed's "mmap pointers": one MAP_SHARED mapping per file (per window of a large file), reused by
 * every lease on it; a lease gets a subarray. close() syncs and drops them all. mmap-io has no munmap:
 * a mapping is released once no Buffer refers to it and the GC has run.
 */
export class MappingRegistry {
  private readonly maps = new Map<string, Mapping>();

  constructor(
    private readonly windowBytes = DEFAULT_WINDOW_BYTES,
    private readonly mapper: Mapper = mapRegion,
    private readonly reader: (path: string, offset: number, length: number) => Buffer = readRegion,
  ) {}

  /** A view of [offset, offset+length) of the file's data; maps (or upgrades to write) on demand. */
  view(file: MappedFile, offset: number, length: number, mode: MapMode): Buffer {
    if (length === 0) return Buffer.alloc(0);
    const span = this.windowSpan(file.chunkSize);
    const w = Math.floor(offset / span);
    const start = w * span;
    if (offset + length > Math.min(file.size, start + span)) {
      throw new RangeError(`region ${offset}+${length} crosses a mapping window or the end of ${file.fileId}`);
    }
    if (start > MAX_MAP_OFFSET) {
      // Past what mmap-io can map (MAX_MAP_OFFSET): a read gets the bytes read (present chunks never
      // change); a write goes through pwrite, as the gateway's writes do.
      if (mode === 'read') return this.reader(file.path, offset, length);
      throw new RangeError(`cannot map ${file.fileId} at byte ${offset} for writing: past ${MAX_MAP_OFFSET}, write it with pwrite`);
    }
    const key = `${file.fileId}:${w}`;
    let m = this.maps.get(key);
    if (!m || (mode === 'write' && m.mode === 'read')) {
      // An older read-only mapping stays valid for the views already handed out; it goes with them.
      m = { path: file.path, mode, buffer: this.mapper(file.path, start, Math.min(span, file.size - start), mode) };
      this.maps.set(key, m);
    }
    return m.buffer.subarray(offset - start, offset - start + length);
  }

  /** msync a view handed out by view() (blocking), so its bytes are on disk before they count. */
  sync(view: Buffer): void {
    syncRegion(view);
  }

  /** Bytes per window: a whole number of chunks, so a chunk never straddles two mappings. */
  windowSpan(chunkSize: number): number {
    return Math.max(1, Math.floor(this.windowBytes / chunkSize)) * chunkSize;
  }

  /** Drop the mappings of one file (read mappings only need no sync: they go once unreferenced). */
  drop(fileId: string): void {
    for (const [key, m] of this.maps) {
      if (!key.startsWith(`${fileId}:`)) continue;
      if (m.mode === 'write') syncRegion(m.buffer);
      this.maps.delete(key);
    }
  }

  get size(): number {
    return this.maps.size;
  }

  /** Sync every write mapping and drop every reference ("NULL the pointers"). */
  closeAll(): void {
    const errors: unknown[] = [];
    for (const m of this.maps.values()) {
      if (m.mode !== 'write') continue;
      try {
        syncRegion(m.buffer);
      } catch (err) {
        errors.push(err);
      }
    }
    this.maps.clear();
    if (errors.length) throw new AggregateError(errors, `failed to sync ${errors.length} mapping(s)`);
  }
}
