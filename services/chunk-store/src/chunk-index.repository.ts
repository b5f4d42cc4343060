import type Redis from 'ioredis';
import { Bitfield, chunkCount, type Manifest } from '@swarmshare/common';
import { RedisKeys } from './redis-keys';

/** What the index knows about one file, without its chunk hashes. */
export interface IndexedFile {
  fileId: string;
  name: string;
  size: number;
  chunkSize: number;
  chunkCount: number;
}

export interface IndexedFileWithBits extends IndexedFile {
  bits: Bitfield;
}

const SUMMARY_FIELDS = ['name', 'size', 'chunkSize', 'chunkCount'] as const;

// A verified chunk: its bit, and the end of its writer's lock, in one round trip. The bit is set only
// while the file is indexed: after a FLUSHALL a lone bits key would look like a file.
const SET_BIT_AND_UNLOCK = `
local indexed = redis.call('EXISTS', KEYS[1]) == 1
if indexed then redis.call('SETBIT', KEYS[2], ARGV[1], 1) end
if redis.call('GET', KEYS[3]) == ARGV[2] then redis.call('DEL', KEYS[3]) end
if indexed then return 1 end
return 0`;

const FINISH_REBUILD = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) return 1 end return 0`;

/** The node's chunk index in Redis. The disk is the truth; this is a fast, rebuildable copy. */
export class ChunkIndexRepository {
  readonly keys: RedisKeys;

  constructor(
    private readonly redis: Redis,
    nodeId: string,
  ) {
    this.keys = new RedisKeys(nodeId);
  }

  /**
   * Replace everything the index holds about one file (one MULTI: all keys share a slot).
   * `allocated`: the bytes with disk blocks when only a share is (a sparse replica); unset: all.
   */
  async putFile(manifest: Manifest, bits: Bitfield, pinned = false, allocated?: number): Promise<void> {
    const id = manifest.fileId;
    await this.redis
      .multi()
      .del(this.keys.file(id))
      .hset(this.keys.file(id), {
        name: manifest.name,
        size: String(manifest.size),
        chunkSize: String(manifest.chunkSize),
        chunkCount: String(manifest.hashes.length),
        ...(pinned ? { pinned: '1' } : {}),
        ...(allocated !== undefined && allocated < manifest.size ? { allocated: String(allocated) } : {}),
      })
      .set(this.keys.hashes(id), Buffer.from(manifest.hashes.join(''), 'hex'))
      .set(this.keys.bits(id), bits.bytes)
      .sadd(this.keys.files(), id)
      .exec();
  }

  async removeFile(fileId: string): Promise<void> {
    await this.redis
      .multi()
      .srem(this.keys.files(), fileId)
      .del(this.keys.file(fileId), this.keys.hashes(fileId), this.keys.bits(fileId))
      .exec();
  }

  /** Mirror the disk's pin marker (the caller checked the file is indexed, under its lock). */
  async setPinned(fileId: string, pinned: boolean): Promise<void> {
    if (pinned) await this.redis.hset(this.keys.file(fileId), 'pinned', '1');
    else await this.redis.hdel(this.keys.file(fileId), 'pinned');
  }

  /** Mirror the disk's allocation record: `allocated` bytes have blocks (null: the whole file). */
  async setAllocated(fileId: string, allocated: number | null): Promise<void> {
    if (allocated === null) await this.redis.hdel(this.keys.file(fileId), 'allocated');
    else await this.redis.hset(this.keys.file(fileId), 'allocated', String(allocated));
  }

  async fileIds(): Promise<string[]> {
    return this.redis.smembers(this.keys.files());
  }

  /** The file and its bitfield; null when either is missing (not indexed, or Redis lost it). */
  async getFile(fileId: string): Promise<IndexedFileWithBits | null> {
    const [summary, raw] = await this.summaryAnd(fileId, this.keys.bits(fileId));
    const file = toIndexedFile(fileId, summary);
    if (!file || !raw) return null;
    // SETBIT may leave the string shorter than the full bitfield: pad with zeros.
    const bytes = Buffer.alloc(Math.ceil(file.chunkCount / 8));
    raw.copy(bytes, 0, 0, bytes.length);
    return { ...file, bits: new Bitfield(file.chunkCount, bytes) };
  }

  /** The file's summary fields and one binary key, in one round trip. */
  private async summaryAnd(fileId: string, key: string): Promise<[(string | null)[], Buffer | null]> {
    const res = (await this.redis.pipeline().hmget(this.keys.file(fileId), ...SUMMARY_FIELDS).getBuffer(key).exec()) ?? [];
    for (const [err] of res) if (err) throw err;
    return [res[0]?.[1] as (string | null)[], (res[1]?.[1] as Buffer | null) ?? null];
  }

  /** Every indexed file with its count of present chunks and the bytes it has on disk (`allocated`). */
  async listFiles(): Promise<Array<IndexedFile & { present: number; pinned: boolean; allocated: number }>> {
    const ids = (await this.fileIds()).sort();
    if (ids.length === 0) return [];
    const p = this.redis.pipeline();
    for (const id of ids) p.hmget(this.keys.file(id), ...SUMMARY_FIELDS, 'pinned', 'allocated').bitcount(this.keys.bits(id));
    const res = (await p.exec()) ?? [];
    const out: Array<IndexedFile & { present: number; pinned: boolean; allocated: number }> = [];
    ids.forEach((id, i) => {
      const [e1, summary] = res[2 * i];
      const [e2, present] = res[2 * i + 1];
      if (e1 || e2) throw e1 ?? e2;
      const file = toIndexedFile(id, summary as (string | null)[]);
      const [pinned, allocated] = (summary as (string | null)[]).slice(SUMMARY_FIELDS.length);
      if (file) out.push({ ...file, present: Number(present), pinned: pinned === '1', allocated: allocated === null ? file.size : Number(allocated) });
    });
    return out;
  }

  async getManifest(fileId: string): Promise<Manifest | null> {
    const [summary, raw] = await this.summaryAnd(fileId, this.keys.hashes(fileId));
    const file = toIndexedFile(fileId, summary);
    const hashes = raw;
    if (!file || !hashes || hashes.length !== file.chunkCount * 32) return null;
    const list: string[] = [];
    for (let i = 0; i < file.chunkCount; i++) list.push(hashes.subarray(i * 32, i * 32 + 32).toString('hex'));
    return { fileId, name: file.name, size: file.size, chunkSize: file.chunkSize, hashes: list };
  }

  /** setBit(), and the writer's lock released if `leaseId` still holds it; false when the file is not indexed. */
  async setBitAndUnlock(fileId: string, index: number, leaseId: string): Promise<boolean> {
    const r = await this.redis.eval(SET_BIT_AND_UNLOCK, 3, this.keys.file(fileId), this.keys.bits(fileId), this.keys.lock(fileId, index), String(index), leaseId);
    return r === 1;
  }

  /** Chunks that failed a re-hash are missing again (only while the file is indexed, like setBit). */
  async clearBits(fileId: string, indexes: number[]): Promise<void> {
    if (indexes.length === 0 || (await this.redis.exists(this.keys.file(fileId))) === 0) return;
    const p = this.redis.pipeline();
    for (const i of indexes) p.setbit(this.keys.bits(fileId), i, 0);
    for (const [err] of (await p.exec()) ?? []) if (err) throw err;
  }

  /** Marker states: "rebuilding <token>" while a rebuild runs, "indexed <token>" once it finished. */
  async beginRebuild(token: string): Promise<void> {
    await this.redis.set(this.keys.indexed(), `rebuilding ${token}`);
  }

  /** False when the marker changed under the rebuild (Redis lost its data meanwhile). */
  async finishRebuild(token: string): Promise<boolean> {
    return (await this.redis.eval(FINISH_REBUILD, 1, this.keys.indexed(), `rebuilding ${token}`, `indexed ${token}`)) === 1;
  }

  async isIndexed(): Promise<boolean> {
    return (await this.redis.get(this.keys.indexed()))?.startsWith('indexed ') ?? false;
  }
}

function toIndexedFile(fileId: string, v: (string | null)[]): IndexedFile | null {
  const [name, size, chunkSize, count] = v;
  if (name === null || size === null || chunkSize === null || count === null) return null;
  const file = { fileId, name, size: Number(size), chunkSize: Number(chunkSize), chunkCount: Number(count) };
  // A record that does not add up is treated as missing, so the caller falls back to the disk.
  return file.chunkCount === chunkCount(file.size, file.chunkSize) ? file : null;
}
