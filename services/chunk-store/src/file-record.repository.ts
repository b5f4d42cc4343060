import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { allocateRanges, Bitfield, chunkCount, chunkRuns, diskFree, FileIdSchema, type Manifest, ManifestSchema, manifestIsConsistent, preallocate } from '@swarmshare/common';

/** A file's record on disk that cannot be trusted; start-up logs it and skips the file. */
export class CorruptRecordError extends Error {
  constructor(
    readonly fileId: string,
    reason: string,
  ) {
    super(`file record ${fileId} is corrupt: ${reason}`);
    this.name = 'CorruptRecordError';
  }
}

export interface DiskRecord {
  manifest: Manifest;
  bits: Bitfield;
  /** `swarmshare pin`: the marker file is there (kept on disk, so a pin outlives Redis and restarts). */
  pinned: boolean;
  /** Chunks whose bytes have disk blocks, when only some do (a sparse share); null: the whole file. */
  allocated: Bitfield | null;
}

/** What allocation needs to know of a file. */
export interface FileShape {
  fileId: string;
  size: number;
  chunkSize: number;
  chunkCount: number;
}

/**
 * The node's files on disk, the source of truth: DATA_DIR/files/<fileId>/{data,manifest.json,bitmap}.
 * The manifest is written last and atomically, so its presence marks a fully created record.
 * The bitmap holds Bitfield bytes; a bit is set only after its chunk was verified and synced.
 */
export class FileRecordRepository {
  readonly root: string;

  constructor(dataDir: string) {
    this.root = join(resolve(dataDir), 'files');
  }

  async init(): Promise<void> {
    await fs.mkdir(this.root, { recursive: true });
  }

  dir(fileId: string): string {
    return join(this.root, fileId);
  }
  dataPath(fileId: string): string {
    return join(this.dir(fileId), 'data');
  }
  manifestPath(fileId: string): string {
    return join(this.dir(fileId), 'manifest.json');
  }
  bitmapPath(fileId: string): string {
    return join(this.dir(fileId), 'bitmap');
  }
  /**
   * Present while only some chunks' space is allocated (a partial replica's share): the Bitfield
   * bytes of those chunks. Absent: the whole data file is allocated (the default, and the state of
   * every record made before sparse shares). A chunk is written only once its bit is set here.
   */
  allocPath(fileId: string): string {
    return join(this.dir(fileId), 'allocated');
  }
  /** Present while the file is pinned on this node; removed with the file. */
  pinPath(fileId: string): string {
    return join(this.dir(fileId), 'pinned');
  }

  async isPinned(fileId: string): Promise<boolean> {
    return fs.access(this.pinPath(fileId)).then(
      () => true,
      () => false,
    );
  }

  /** Write or remove the pin marker, durably (the directory is synced, so a crash keeps the answer). */
  async setPinned(fileId: string, pinned: boolean): Promise<void> {
    if (pinned) await atomicWrite(this.pinPath(fileId), Buffer.from('pinned\n'));
    else await fs.rm(this.pinPath(fileId), { force: true });
  }

  /** Names of the entries under files/ (not yet validated). */
  async listIds(): Promise<string[]> {
    try {
      return (await fs.readdir(this.root)).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  /** The record, null when there is none, CorruptRecordError when it is unusable. */
  async load(fileId: string): Promise<DiskRecord | null> {
    if (!FileIdSchema.safeParse(fileId).success) throw new CorruptRecordError(fileId, 'directory name is not a file id');
    let text: string;
    try {
      text = await fs.readFile(this.manifestPath(fileId), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new CorruptRecordError(fileId, 'manifest.json is not JSON');
    }
    const parsed = ManifestSchema.safeParse(json);
    if (!parsed.success) throw new CorruptRecordError(fileId, 'manifest.json does not match the manifest schema');
    const manifest = parsed.data;
    if (manifest.fileId !== fileId || !manifestIsConsistent(manifest)) {
      throw new CorruptRecordError(fileId, 'manifest does not hash to its file id');
    }
    const count = chunkCount(manifest.size, manifest.chunkSize);
    let bits: Bitfield;
    try {
      bits = new Bitfield(count, await fs.readFile(this.bitmapPath(fileId)));
    } catch (err) {
      throw new CorruptRecordError(fileId, `bitmap unreadable: ${(err as Error).message}`);
    }
    let dataSize: number;
    try {
      dataSize = (await fs.stat(this.dataPath(fileId))).size;
    } catch (err) {
      throw new CorruptRecordError(fileId, `data file unreadable: ${(err as Error).message}`);
    }
    // Mapping past EOF would SIGBUS, so a short data file must never be handed out.
    if (dataSize < manifest.size) throw new CorruptRecordError(fileId, `data file has ${dataSize} bytes, manifest says ${manifest.size}`);
    let allocated: Bitfield | null;
    try {
      allocated = await this.loadAllocated(fileId, count);
    } catch (err) {
      throw new CorruptRecordError(fileId, `allocation record unreadable: ${(err as Error).message}`);
    }
    return { manifest, bits, pinned: await this.isPinned(fileId), allocated };
  }

  /** Which chunks have disk blocks; null when all do (no record). */
  async loadAllocated(fileId: string, count: number): Promise<Bitfield | null> {
    try {
      return new Bitfield(count, await fs.readFile(this.allocPath(fileId)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  /**
   * Allocate the data file (all of it, or with `share` only those chunks' bytes, in a sparse file:
   * see allocateRanges), then write the allocation record and an empty bitmap, then (last) the manifest.
   */
  async create(manifest: Manifest, share?: Bitfield): Promise<void> {
    const dir = this.dir(manifest.fileId);
    await fs.mkdir(dir, { recursive: true });
    try {
      const data = this.dataPath(manifest.fileId);
      if (share && !share.isComplete()) {
        await allocateRanges(data, manifest.size, chunkRuns(share.indexes(), manifest.size, manifest.chunkSize));
        await atomicWrite(this.allocPath(manifest.fileId), share.bytes);
      } else {
        await preallocate(data, manifest.size);
      }
      await atomicWrite(this.bitmapPath(manifest.fileId), new Bitfield(manifest.hashes.length).bytes);
      await atomicWrite(this.manifestPath(manifest.fileId), Buffer.from(JSON.stringify(manifest)));
    } catch (err) {
      await fs.rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /**
   * Allocate the bytes of chunks `indexes` of a file whose record says only some are (one
   * fallocate per run of chunks), then record them: blocks first, so the record never claims a
   * chunk that has none (a crash in between only allocates them again, a no-op). Returns the
   * allocation after (null once the whole file is allocated: the record goes).
   */
  async allocate(file: FileShape, current: Bitfield, indexes: number[]): Promise<Bitfield | null> {
    await allocateRanges(this.dataPath(file.fileId), file.size, chunkRuns(indexes, file.size, file.chunkSize));
    const next = new Bitfield(file.chunkCount, current.bytes);
    for (const i of indexes) next.set(i);
    if (!next.isComplete()) {
      await atomicWrite(this.allocPath(file.fileId), next.bytes);
      return next;
    }
    await fs.rm(this.allocPath(file.fileId), { force: true });
    await syncDir(this.dir(file.fileId));
    return null;
  }

  /**
   * Delete the record: the manifest goes first (so a rebuild running meanwhile sees no record),
   * then the directory. Returns the data size it had (0 when there was no record). Mappings of the
   * data file stay valid until dropped (Linux keeps an unlinked, mapped file's blocks until then).
   */
  async remove(fileId: string): Promise<{ existed: boolean }> {
    const dir = this.dir(fileId);
    let existed = true;
    try {
      await fs.rm(this.manifestPath(fileId));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      existed = false;
    }
    await fs.rm(dir, { recursive: true, force: true });
    return { existed };
  }

  /**
   * Make a staged data file (a local import, already hashed by the caller) a complete record: the
   * file moves in by rename (same volume), then a full bitmap, then (last) the manifest.
   */
  async adopt(manifest: Manifest, stagedPath: string): Promise<void> {
    const dir = this.dir(manifest.fileId);
    await fs.mkdir(dir, { recursive: true });
    try {
      await fs.rename(stagedPath, this.dataPath(manifest.fileId));
      await atomicWrite(this.bitmapPath(manifest.fileId), Bitfield.full(manifest.hashes.length).bytes);
      await atomicWrite(this.manifestPath(manifest.fileId), Buffer.from(JSON.stringify(manifest)));
    } catch (err) {
      await fs.rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /**
   * Persist chunk `index` as present (pwrite of its byte + fdatasync). Returns whether the bit was
   * newly set and the whole bitfield after the change. Callers serialise calls per file.
   */
  async setBit(fileId: string, index: number, count: number): Promise<{ changed: boolean; bits: Bitfield }> {
    const r = await this.setBits(fileId, [index], count);
    return { changed: r.changed.length > 0, bits: r.bits };
  }

  /**
   * Persist several chunks as present with one write and one fdatasync of the bitmap (group
   * commit). Returns the indexes newly set and the whole bitfield after. Callers serialise per file
   * and must have made the chunks' bytes durable first (syncData).
   */
  async setBits(fileId: string, indexes: number[], count: number): Promise<{ changed: number[]; bits: Bitfield }> {
    return this.writeBits(fileId, indexes, count, true);
  }

  /**
   * Persist chunks as missing again (they failed a re-hash): one write and one fdatasync of the
   * bitmap. Returns the indexes that were present. Callers serialise per file.
   */
  async clearBits(fileId: string, indexes: number[], count: number): Promise<{ changed: number[]; bits: Bitfield }> {
    return this.writeBits(fileId, indexes, count, false);
  }

  /** Set (or clear) bits that differ, with one write of the bytes they span and one fdatasync. */
  private async writeBits(fileId: string, indexes: number[], count: number, value: boolean): Promise<{ changed: number[]; bits: Bitfield }> {
    const fh = await fs.open(this.bitmapPath(fileId), 'r+');
    try {
      const bits = new Bitfield(count, await fh.readFile());
      const changed = indexes.filter((i) => bits.get(i) !== value);
      if (changed.length === 0) return { changed, bits };
      for (const i of changed) bits.set(i, value);
      const lo = Math.min(...changed) >> 3;
      const hi = Math.max(...changed) >> 3;
      await fh.write(bits.bytes, lo, hi - lo + 1, lo);
      await fh.datasync();
      return { changed, bits };
    } finally {
      await fh.close();
    }
  }

  /**
   * fdatasync the data file. On Linux this writes back every dirty page of the file, including
   * pages dirtied through MAP_SHARED mappings in this or the co-located gateway's process (one page
   * cache), so it replaces a blocking msync per chunk and runs on the thread pool, not the event loop.
   */
  async syncData(fileId: string): Promise<void> {
    const fh = await fs.open(this.dataPath(fileId), 'r+');
    try {
      await fh.datasync();
    } finally {
      await fh.close();
    }
  }

  diskFree(): Promise<number> {
    return diskFree(this.root);
  }
}

/** tmp file + fsync + rename + fsync of the directory: readers see the old or the new content, never half. */
export async function atomicWrite(path: string, data: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fh = await fs.open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await fs.rename(tmp, path);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
  await syncDir(dirname(path));
}

/** fsync a directory, so a rename or removal in it survives a crash. */
async function syncDir(dir: string): Promise<void> {
  const dh = await fs.open(dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}
