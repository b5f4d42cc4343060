import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { type PeerRecord, sha256Hex } from '@swarmshare/common';
import type Redis from 'ioredis';
import type { Held, HeldState } from './announce-plan';
import type { TrackedPeer } from './liveness';
import type { StoredFile, StoredFileMeta } from './file-record';
import { REDIS } from './redis.provider';

/**
 * Redis key layout. Every key starts with a hash tag, so the keys one operation touches share a
 * Redis Cluster slot; no command or transaction ever spans two tags.
 *
 *   {peers}:seen               zset  nodeId -> lastSeen ms (liveness index)
 *   {peers}:records            hash  nodeId -> PeerRecord JSON
 *   {peers}:held:<nodeId>      hash  fileId -> 'c' | 'p': what the node's last announce reported
 *   {peers}:pins               hash  nodeId -> JSON array of the file ids its last announce said it pinned
 *   {files}:all                zset  fileId -> registeredAt (the file list)
 *   {files}:name:<name>        set   fileIds registered under that name
 *   {file:<id>}:meta           hash  fileId name size chunkSize chunkCount hash registeredAt [replicas] [expiresAt]
 *   {file:<id>}:seeders        set   nodeIds holding the whole file
 *   {file:<id>}:leechers       zset  nodeId -> when its download started (ms)
 *   {file:<id>}:completions    set   nodeIds that completed a download (SCARD = download count)
 *   {file:<id>}:replicas       set   nodeIds that took replica copies in a replicated upload
 *   {file:<id>}:acks           hash  "<downloader>><holder>" -> bytes the holder acked serving
 *   {peers}:resv:<nodeId>      hash  uploadId -> "bytes:expiresAtMs": space reserved on the node
 *   {peers}:upload:<uploadId>  set   nodeIds the upload reserved on (for release)
 *   {facts}:applied:<factId>   string  a fact from the facts stream was applied (expires with the stream's facts)
 *   {files}:deleted            zset  fileId -> when it was deleted everywhere (tombstones, TOMBSTONE_TTL_MS)
 *
 * Soft-state contract: peer entries and swarm membership are rebuilt by peers re-announcing every
 * few seconds; file records (meta and indexes) are not, and must be registered again after Redis
 * loses its data.
 */
export const Keys = {
  peerSeen: '{peers}:seen',
  peerRecords: '{peers}:records',
  peerHeld: (nodeId: string) => `{peers}:held:${nodeId}`,
  /** nodeId -> JSON array of the files its last announce said it pinned; absent: it did not say (older gateway). */
  peerPins: '{peers}:pins',
  /** nodeId -> when a downloader last reported it unreachable; cleared by its next announce. */
  peerUnreachable: '{peers}:unreachable',
  fileList: '{files}:all',
  fileName: (name: string) => `{files}:name:${name}`,
  fileMeta: (fileId: string) => `{file:${fileId}}:meta`,
  fileSeeders: (fileId: string) => `{file:${fileId}}:seeders`,
  fileLeechers: (fileId: string) => `{file:${fileId}}:leechers`,
  fileCompletions: (fileId: string) => `{file:${fileId}}:completions`,
  fileReplicas: (fileId: string) => `{file:${fileId}}:replicas`,
  /** Replica holders that hold only their share: seeders of what they have, listed apart from complete seeders. */
  filePartial: (fileId: string) => `{file:${fileId}}:partial`,
  fileAcks: (fileId: string) => `{file:${fileId}}:acks`,
  fileTombstones: '{files}:deleted',
  // Reservations share the {peers} tag with the peer records: one script reads the node's free
  // space and every reservation on it, so two racing uploads can never both fit in the same bytes.
  peerReservations: (nodeId: string) => `{peers}:resv:${nodeId}`,
  uploadNodes: (uploadId: string) => `{peers}:upload:${uploadId}`,
  // Long ids (anyone may publish a fact) are hashed, so a key stays small.
  factApplied: (factId: string) => `{facts}:applied:${factId.length <= 200 ? factId : sha256Hex(Buffer.from(factId))}`,
} as const;

/**
 * seed: seeder, not leecher. leech: leecher (keeping its first start time), not seeder. complete:
 * seed + count the download. partial: an announce of a partial holding: a replica holder (it holds
 * its share of a replicated upload, on purpose) serves as a seeder but is marked partial, anyone else
 * is a leecher. seed and complete clear the partial mark.
 */
export type SwarmOp = 'seed' | 'leech' | 'complete' | 'partial' | 'hold';
/** Returned by updateSwarm when the file is not registered (nothing is written then). */
export const UNKNOWN_FILE = -1;

// Scripts run atomically in one slot: every key they touch is passed in KEYS.
const SCRIPTS = {
  /** KEYS: meta. ARGV: field/value pairs. Creates the record only if absent; returns the stored one. */
  trackerCreateFile: {
    numberOfKeys: 1,
    lua: `if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('HSET', KEYS[1], unpack(ARGV)) end
return redis.call('HGETALL', KEYS[1])`,
  },
  /**
   * KEYS: meta, seeders, leechers, completions, replicas, partial. ARGV: op, nodeId, now.
   * Checks the file exists in the same step, so a swarm set is never created for an unknown file.
   */
  trackerSwarm: {
    numberOfKeys: 6,
    lua: `if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local op, node = ARGV[1], ARGV[2]
if op == 'partial' then
  if redis.call('SISMEMBER', KEYS[5], node) == 0 then op = 'leech' end
elseif op == 'hold' then
  op = 'partial'
end
if op == 'leech' then
  redis.call('SREM', KEYS[2], node)
  redis.call('SREM', KEYS[6], node)
  redis.call('ZADD', KEYS[3], 'NX', ARGV[3], node)
  return 0
end
redis.call('SADD', KEYS[2], node)
redis.call('ZREM', KEYS[3], node)
if op == 'partial' then
  redis.call('SADD', KEYS[6], node)
  return 0
end
redis.call('SREM', KEYS[6], node)
if op == 'complete' then return redis.call('SADD', KEYS[4], node) end
return 0`,
  },
  /**
   * KEYS: seen, records, reservations of the node, nodes of the upload. ARGV: nodeId, uploadId,
   * bytes, now, expiresAt, cutoff. Sets the upload's reservation on a live node to `bytes` if the
   * node's announced free space minus every other unexpired reservation holds it (expired ones are
   * deleted on the way). Returns {1, left} when reserved, {0, available} when it does not fit,
   * {-1, 0} when the node is not a live peer.
   */
  trackerReserve: {
    numberOfKeys: 4,
    lua: `local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not s or tonumber(s) < tonumber(ARGV[6]) then return {-1, 0} end
local rec = redis.call('HGET', KEYS[2], ARGV[1])
if not rec then return {-1, 0} end
local free = tonumber(cjson.decode(rec).free)
local now = tonumber(ARGV[4])
local others = 0
local all = redis.call('HGETALL', KEYS[3])
for i = 1, #all, 2 do
  local b, e = string.match(all[i + 1], '^(%d+):(%d+)$')
  if not b or tonumber(e) <= now then redis.call('HDEL', KEYS[3], all[i])
  elseif all[i] ~= ARGV[2] then others = others + tonumber(b) end
end
local want = tonumber(ARGV[3])
local avail = free - others
if avail < 0 then avail = 0 end
if avail < want then return {0, avail} end
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3] .. ':' .. ARGV[5])
redis.call('SADD', KEYS[4], ARGV[1])
redis.call('PEXPIREAT', KEYS[4], ARGV[5])
return {1, avail - want}`,
  },
  /** KEYS: seen, records, held. ARGV: nodeId, cutoff. Removes the peer only if it is still expired. */
  trackerPrunePeer: {
    numberOfKeys: 3,
    lua: `local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if s and tonumber(s) < tonumber(ARGV[2]) then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('DEL', KEYS[3])
  return 1
end
return 0`,
  },
} as const;

interface Scripts {
  trackerCreateFile(key: string, ...args: string[]): Promise<string[]>;
  trackerSwarm(meta: string, seeders: string, leechers: string, completions: string, replicas: string, partial: string, op: SwarmOp, nodeId: string, now: string): Promise<number>;
  trackerReserve(seen: string, records: string, resv: string, upload: string, nodeId: string, uploadId: string, bytes: string, now: string, expiresAt: string, cutoff: string): Promise<[number, number]>;
  trackerPrunePeer(seen: string, records: string, held: string, nodeId: string, cutoff: string): Promise<number>;
}

/** All of the tracker's Redis I/O. No business rules here: those live in TrackerService. */
@Injectable()
export class TrackerRepository implements OnApplicationShutdown {
  private readonly scripts: Scripts;

  constructor(@Inject(REDIS) private readonly redis: Redis) {
    for (const [name, def] of Object.entries(SCRIPTS)) {
      if (!(name in redis)) redis.defineCommand(name, def);
    }
    this.scripts = redis as unknown as Scripts;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  // ---- peers ----

  /**
   * Upsert the peer and store what it holds now, in one transaction; returns what it held at its
   * previous announce.
   */
  async recordAnnounce(peer: PeerRecord, held: Held, pins?: readonly string[]): Promise<Map<string, HeldState>> {
    const key = Keys.peerHeld(peer.nodeId);
    const tx = this.redis
      .multi()
      .hset(Keys.peerRecords, peer.nodeId, JSON.stringify(peer))
      .zadd(Keys.peerSeen, peer.lastSeen, peer.nodeId)
      .hgetall(key)
      .del(key)
      .hdel(Keys.peerUnreachable, peer.nodeId);
    if (held.size > 0) tx.hset(key, Object.fromEntries(held));
    if (pins) tx.hset(Keys.peerPins, peer.nodeId, JSON.stringify(pins));
    else tx.hdel(Keys.peerPins, peer.nodeId);
    const [, , previous] = await exec(tx);
    return new Map(Object.entries(previous as Record<string, string>).filter((e): e is [string, HeldState] => e[1] === 'c' || e[1] === 'p' || e[1] === 'h'));
  }

  /** A downloader could not reach the node: remembered until its next announce (only for a known peer). */
  async markUnreachable(nodeId: string, at: number): Promise<boolean> {
    if (!(await this.redis.hexists(Keys.peerRecords, nodeId))) return false;
    await this.redis.hset(Keys.peerUnreachable, nodeId, String(at));
    return true;
  }

  /** The node stopped downloading the file: no longer a leecher (its chunks are announced apart). */
  async dropLeecher(fileId: string, nodeId: string): Promise<void> {
    await this.redis.zrem(Keys.fileLeechers(fileId), nodeId);
  }

  /** Peers whose lastSeen is at or after `cutoff`. */
  async peersSeenSince(cutoff: number): Promise<TrackedPeer[]> {
    const ids = await this.redis.zrangebyscore(Keys.peerSeen, cutoff, '+inf');
    return [...(await this.getPeers(ids)).values()];
  }

  /** Peer records, each with `unreachableAt` when a downloader reported it unreachable since its last announce. */
  async getPeers(nodeIds: readonly string[]): Promise<Map<string, TrackedPeer>> {
    const out = new Map<string, TrackedPeer>();
    if (nodeIds.length === 0) return out;
    const [raw, reported, pins] = (await exec(
      this.redis.multi().hmget(Keys.peerRecords, ...nodeIds).hmget(Keys.peerUnreachable, ...nodeIds).hmget(Keys.peerPins, ...nodeIds),
    )) as [Array<string | null>, Array<string | null>, Array<string | null>];
    raw.forEach((json, i) => {
      if (!json) return;
      const peer = JSON.parse(json) as TrackedPeer;
      if (reported[i] !== null) peer.unreachableAt = Number(reported[i]);
      if (pins[i] !== null) peer.pins = new Set(JSON.parse(pins[i]!) as string[]);
      out.set(nodeIds[i], peer);
    });
    return out;
  }

  /** Up to `limit` peers last seen before `cutoff`. */
  expiredPeerIds(cutoff: number, limit: number): Promise<string[]> {
    return this.redis.zrangebyscore(Keys.peerSeen, '-inf', `(${cutoff}`, 'LIMIT', 0, limit);
  }

  /** Remove a peer if (still) last seen before `cutoff`; false if it re-announced meanwhile. */
  async prunePeer(nodeId: string, cutoff: number): Promise<boolean> {
    const pruned = (await this.scripts.trackerPrunePeer(Keys.peerSeen, Keys.peerRecords, Keys.peerHeld(nodeId), nodeId, String(cutoff))) === 1;
    if (pruned) await this.redis.multi().hdel(Keys.peerUnreachable, nodeId).hdel(Keys.peerPins, nodeId).exec();
    return pruned;
  }

  // ---- files ----

  /** Create the file record unless it exists; returns the stored record either way. */
  async createFile(meta: StoredFileMeta): Promise<StoredFileMeta> {
    const args = Object.entries(meta).flatMap(([k, v]) => [k, String(v)]);
    const flat = await this.scripts.trackerCreateFile(Keys.fileMeta(meta.fileId), ...args);
    const stored = parseMeta(pairs(flat));
    if (!stored) throw new Error(`file record ${meta.fileId} in Redis is incomplete`);
    return stored;
  }

  /** `share --ttl` on a registered file: set or renew its expiry (only on an existing record). */
  async setExpiry(fileId: string, expiresAt: number): Promise<void> {
    await this.redis.eval(`if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'expiresAt', ARGV[1]) end`, 1, Keys.fileMeta(fileId), String(expiresAt));
  }

  async indexFile(fileId: string, name: string, registeredAt: number): Promise<void> {
    await exec(this.redis.multi().zadd(Keys.fileList, 'NX', registeredAt, fileId).sadd(Keys.fileName(name), fileId));
  }

  fileIds(): Promise<string[]> {
    return this.redis.zrange(Keys.fileList, 0, -1);
  }

  fileIdsByName(name: string): Promise<string[]> {
    return this.redis.smembers(Keys.fileName(name));
  }

  /** The file's record and swarm as stored, or null if it is not registered. */
  async readFile(fileId: string): Promise<StoredFile | null> {
    const [meta, seeders, leechers, downloads, partial] = await exec(
      this.redis
        .multi()
        .hgetall(Keys.fileMeta(fileId))
        .smembers(Keys.fileSeeders(fileId))
        .zrange(Keys.fileLeechers(fileId), 0, -1, 'WITHSCORES')
        .scard(Keys.fileCompletions(fileId))
        .smembers(Keys.filePartial(fileId)),
    );
    const parsed = parseMeta(meta as Record<string, string>);
    if (!parsed) return null;
    const flat = leechers as string[];
    const list: StoredFile['leechers'] = [];
    for (let i = 0; i < flat.length; i += 2) list.push({ nodeId: flat[i], since: Number(flat[i + 1]) });
    return { meta: parsed, seeders: seeders as string[], partial: partial as string[], leechers: list, downloads: downloads as number };
  }

  /** Apply a swarm transition for one node; UNKNOWN_FILE if the file is not registered. For 'complete', 1 if this (file, node) was counted now, 0 if already counted. */
  updateSwarm(fileId: string, op: SwarmOp, nodeId: string, now: number): Promise<number> {
    return this.scripts.trackerSwarm(
      Keys.fileMeta(fileId),
      Keys.fileSeeders(fileId),
      Keys.fileLeechers(fileId),
      Keys.fileCompletions(fileId),
      Keys.fileReplicas(fileId),
      Keys.filePartial(fileId),
      op,
      nodeId,
      String(now),
    );
  }

  /** Record the replica holders of a replicated upload and how many copies it placed. */
  async addReplicas(fileId: string, holders: readonly string[], replicas: number): Promise<void> {
    if (holders.length === 0) return;
    await exec(this.redis.multi().sadd(Keys.fileReplicas(fileId), ...holders).hset(Keys.fileMeta(fileId), 'replicas', String(replicas)));
  }

  async recordAck(fileId: string, nodeId: string, holder: string, bytes: number): Promise<void> {
    await this.redis.hset(Keys.fileAcks(fileId), `${nodeId}>${holder}`, String(bytes));
  }

  async acks(fileId: string): Promise<Array<{ nodeId: string; holder: string; bytes: number }>> {
    const h = await this.redis.hgetall(Keys.fileAcks(fileId));
    return Object.entries(h).map(([k, v]) => {
      const [nodeId, holder] = k.split('>');
      return { nodeId, holder, bytes: Number(v) };
    });
  }

  // ---- facts stream ----

  /** True if the fact with this id was applied (within the last `markFactApplied` ttl). */
  async factApplied(factId: string): Promise<boolean> {
    return (await this.redis.exists(Keys.factApplied(factId))) === 1;
  }

  /** Remember that the fact was applied, for `ttlMs` (as long as the stream may deliver it again). */
  async markFactApplied(factId: string, ttlMs: number): Promise<void> {
    await this.redis.set(Keys.factApplied(factId), '1', 'PX', ttlMs);
  }

  // ---- reservations ----

  reserve(nodeId: string, uploadId: string, bytes: number, now: number, expiresAt: number, cutoff: number): Promise<[number, number]> {
    return this.scripts.trackerReserve(
      Keys.peerSeen,
      Keys.peerRecords,
      Keys.peerReservations(nodeId),
      Keys.uploadNodes(uploadId),
      nodeId,
      uploadId,
      String(bytes),
      String(now),
      String(expiresAt),
      String(cutoff),
    );
  }

  /** Drop every reservation of an upload; returns how many nodes it had reserved on. */
  async release(uploadId: string): Promise<number> {
    const nodes = await this.redis.smembers(Keys.uploadNodes(uploadId));
    const tx = this.redis.multi();
    for (const n of nodes) tx.hdel(Keys.peerReservations(n), uploadId);
    tx.del(Keys.uploadNodes(uploadId));
    await exec(tx);
    return nodes.length;
  }

  /** Unexpired reservations on each node (expired ones are skipped; the next reserve deletes them). */
  async reservations(nodeIds: readonly string[], now: number): Promise<Array<{ uploadId: string; nodeId: string; bytes: number; expiresAt: number }>> {
    if (nodeIds.length === 0) return [];
    const tx = this.redis.multi();
    for (const n of nodeIds) tx.hgetall(Keys.peerReservations(n));
    const res = await exec(tx);
    const out: Array<{ uploadId: string; nodeId: string; bytes: number; expiresAt: number }> = [];
    res.forEach((h, i) => {
      for (const [uploadId, v] of Object.entries(h as Record<string, string>)) {
        const m = /^(\d+):(\d+)$/.exec(v);
        if (m && Number(m[2]) > now) out.push({ uploadId, nodeId: nodeIds[i], bytes: Number(m[1]), expiresAt: Number(m[2]) });
      }
    });
    return out;
  }

  // ---- deletion (issue 14) ----

  /** Every node the record lists (seeders, partial holders, leechers), live or not. */
  async members(fileId: string): Promise<string[]> {
    const [seeders, partial, leechers] = (await exec(
      this.redis.multi().smembers(Keys.fileSeeders(fileId)).smembers(Keys.filePartial(fileId)).zrange(Keys.fileLeechers(fileId), 0, -1),
    )) as string[][];
    return [...new Set([...seeders, ...partial, ...leechers])].sort();
  }

  /** Remove the file's record, its swarm and its index entries; false when it was not registered. */
  async removeFile(fileId: string): Promise<boolean> {
    const name = await this.redis.hget(Keys.fileMeta(fileId), 'name');
    const k = [Keys.fileMeta, Keys.fileSeeders, Keys.fileLeechers, Keys.fileCompletions, Keys.fileReplicas, Keys.filePartial, Keys.fileAcks].map((f) => f(fileId));
    const [removed] = (await exec(this.redis.multi().del(...k))) as number[];
    // Other hash tags, so separate commands; a crash between them leaves an index entry without a record, which readers skip.
    await this.redis.zrem(Keys.fileList, fileId);
    if (name !== null) await this.redis.srem(Keys.fileName(name), fileId);
    return removed > 0;
  }

  async setTombstone(fileId: string, at: number): Promise<void> {
    await this.redis.zadd(Keys.fileTombstones, at, fileId);
  }

  async clearTombstone(fileId: string): Promise<boolean> {
    return (await this.redis.zrem(Keys.fileTombstones, fileId)) > 0;
  }

  /** Of `fileIds`, those with a tombstone set at or after `since` (older ones are removed on the way). */
  async tombstoned(fileIds: readonly string[], since: number): Promise<string[]> {
    await this.redis.zremrangebyscore(Keys.fileTombstones, '-inf', `(${since}`);
    if (fileIds.length === 0) return [];
    const scores = await this.redis.zmscore(Keys.fileTombstones, ...fileIds);
    return fileIds.filter((_, i) => scores[i] !== null);
  }

  /** Forget a file in the node's last announce, so its next announce is compared with what it holds after a delete. */
  async forgetHeld(nodeId: string, fileId: string): Promise<void> {
    await this.redis.hdel(Keys.peerHeld(nodeId), fileId);
  }

  /** Remove nodes from a file's seeders and leechers (removal never creates keys). */
  async dropFromSwarm(fileId: string, nodeIds: readonly string[]): Promise<void> {
    if (nodeIds.length === 0) return;
    await exec(this.redis.multi().srem(Keys.fileSeeders(fileId), ...nodeIds).srem(Keys.filePartial(fileId), ...nodeIds).zrem(Keys.fileLeechers(fileId), ...nodeIds));
  }
}

/** Run a MULTI and unwrap its results, throwing the first command error. */
async function exec(tx: ReturnType<Redis['multi']>): Promise<unknown[]> {
  const res = await tx.exec();
  if (!res) throw new Error('redis transaction was aborted');
  return res.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}

function pairs(flat: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]] = flat[i + 1];
  return out;
}

function parseMeta(h: Record<string, string>): StoredFileMeta | null {
  if (!h.fileId || h.name === undefined) return null;
  return {
    fileId: h.fileId,
    name: h.name,
    size: Number(h.size),
    chunkSize: Number(h.chunkSize),
    chunkCount: Number(h.chunkCount),
    hash: h.hash,
    registeredAt: Number(h.registeredAt),
    ...(h.replicas ? { replicas: Number(h.replicas) } : {}),
    ...(h.expiresAt ? { expiresAt: Number(h.expiresAt) } : {}),
  };
}
