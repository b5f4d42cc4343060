import { Inject, Injectable } from '@nestjs/common';
import { type PreheatJob, type PreheatNode, PreheatNodeSchema, type PreheatNodeState } from '@swarmshare/common';
import type Redis from 'ioredis';
import { REDIS } from '../redis.provider';
import { Keys } from '../tracker.repository';

/**
 * Preheat jobs in Redis, under the tracker's own `{preheat}` hash tag (one Cluster slot, so each
 * script sees a job whole):
 *
 *   {preheat}:active          set     jobIds with work left (what every tracker's runner looks at)
 *   {preheat}:job:<id>        hash    fileId concurrency cancelled createdAt updatedAt peak seq
 *   {preheat}:nodes:<id>      hash    nodeId -> PreheatNode JSON
 *   {preheat}:down:<nodeId>   set     jobIds in which the node is down (the announce hook reads it)
 *   {preheat}:lease:<id>      string  the tracker running the job; expires after PREHEAT_LEASE_MS
 *
 * Every node change is one compare-and-set script, so a runner, a cancel and an announce on
 * different trackers never undo each other; starting a node also checks the caller still holds the
 * lease and that fewer than `concurrency` nodes run, in the same step (the limit holds even if two
 * trackers believed they held the lease).
 */
const K = {
  active: '{preheat}:active',
  job: (id: string) => `{preheat}:job:${id}`,
  nodes: (id: string) => `{preheat}:nodes:${id}`,
  down: (nodeId: string) => `{preheat}:down:${nodeId}`,
  lease: (id: string) => `{preheat}:lease:${id}`,
};

/** How long an ended job stays readable (status, `preheat --status`). */
const ENDED_JOB_KEEP_S = 7 * 24 * 3600;

const SCRIPTS = {
  /**
   * KEYS: job, nodes, lease, down set of the node. ARGV: jobId, nodeId, allowed from-states (comma
   * list), new state, error ('' none), owner ('' no lease check), chunksDone, chunkCount (-1: keep), now.
   * Returns 1 when changed, 0 when the node was not in an allowed state (or the slot/cancel rules
   * refused), -1 when the caller does not hold the lease.
   */
  preheatMove: {
    numberOfKeys: 4,
    lua: `local raw = redis.call('HGET', KEYS[2], ARGV[2])
if not raw then return 0 end
local n = cjson.decode(raw)
if not string.find(',' .. ARGV[3] .. ',', ',' .. n.state .. ',', 1, true) then return 0 end
if ARGV[6] ~= '' and redis.call('GET', KEYS[3]) ~= ARGV[6] then return -1 end
local cancelled = redis.call('HGET', KEYS[1], 'cancelled') == '1'
local to = ARGV[4]
if to == 'running' and n.state ~= 'running' then
  if cancelled then return 0 end
  local limit = tonumber(redis.call('HGET', KEYS[1], 'concurrency'))
  local running = 0
  for _, v in ipairs(redis.call('HVALS', KEYS[2])) do
    if cjson.decode(v).state == 'running' then running = running + 1 end
  end
  if running >= limit then return 0 end
  running = running + 1
  if running > tonumber(redis.call('HGET', KEYS[1], 'peak') or '0') then redis.call('HSET', KEYS[1], 'peak', running) end
  n.startSeq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
  n.endSeq = nil
  n.error = nil
  n.attempts = (n.attempts or 0) + 1
elseif to == 'queued' and cancelled then
  return 0
elseif n.state == 'running' and to ~= 'running' then
  n.endSeq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
end
if ARGV[5] ~= '' then n.error = ARGV[5] elseif to ~= n.state then n.error = nil end
if tonumber(ARGV[8]) >= 0 then n.chunksDone = tonumber(ARGV[7]); n.chunkCount = tonumber(ARGV[8]) end
if n.state == 'down' and to ~= 'down' then redis.call('SREM', KEYS[4], ARGV[1]) end
if to == 'down' then redis.call('SADD', KEYS[4], ARGV[1]) end
n.state = to
redis.call('HSET', KEYS[2], ARGV[2], cjson.encode(n))
redis.call('HSET', KEYS[1], 'updatedAt', ARGV[9])
return 1`,
  },
  /** KEYS: lease. ARGV: owner, ms. Take the lease if free, renew it if ours; 1 when held. */
  preheatLease: {
    numberOfKeys: 1,
    lua: `local cur = redis.call('GET', KEYS[1])
if not cur then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
if cur == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0`,
  },
  /** KEYS: lease. ARGV: owner. Give the lease back if ours. */
  preheatRelease: {
    numberOfKeys: 1,
    lua: `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`,
  },
} as const;

type Scripts = {
  preheatMove(job: string, nodes: string, lease: string, down: string, ...argv: Array<string | number>): Promise<number>;
  preheatLease(lease: string, owner: string, ms: number): Promise<number>;
  preheatRelease(lease: string, owner: string): Promise<number>;
};

/** A job as stored: its fields and its nodes, before the state is derived (see jobState). */
export interface StoredJob {
  jobId: string;
  fileId: string;
  concurrency: number;
  cancelled: boolean;
  createdAt: number;
  updatedAt: number;
  peak: number;
  nodes: PreheatNode[];
  owner?: string;
}

export interface MoveOptions {
  error?: string;
  /** Only if the caller holds the job's lease (the runner's moves). */
  owner?: string;
  progress?: { chunksDone: number; chunkCount: number };
}

@Injectable()
export class PreheatStore {
  private readonly scripts: Scripts;

  constructor(@Inject(REDIS) private readonly redis: Redis) {
    for (const [name, def] of Object.entries(SCRIPTS)) {
      if (!(name in redis)) redis.defineCommand(name, def);
    }
    this.scripts = redis as unknown as Scripts;
  }

  async create(jobId: string, fileId: string, concurrency: number, nodes: PreheatNode[], now: number): Promise<void> {
    const m = this.redis.multi();
    m.hset(K.job(jobId), { fileId, concurrency, cancelled: 0, createdAt: now, updatedAt: now, peak: 0, seq: 0 });
    m.hset(K.nodes(jobId), Object.fromEntries(nodes.map((n) => [n.nodeId, JSON.stringify(n)])));
    m.sadd(K.active, jobId);
    await m.exec();
  }

  async read(jobId: string): Promise<StoredJob | null> {
    const [job, nodes, owner] = await Promise.all([this.redis.hgetall(K.job(jobId)), this.redis.hvals(K.nodes(jobId)), this.redis.get(K.lease(jobId))]);
    if (!job.fileId) return null;
    return {
      jobId,
      fileId: job.fileId,
      concurrency: Number(job.concurrency),
      cancelled: job.cancelled === '1',
      createdAt: Number(job.createdAt),
      updatedAt: Number(job.updatedAt),
      peak: Number(job.peak ?? 0),
      nodes: nodes.map((v) => PreheatNodeSchema.parse(JSON.parse(v))).sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0)),
      ...(owner ? { owner } : {}),
    };
  }

  /** Move a node from one of `from` to `to` (see the script for the rules); 1 moved, 0 refused, -1 lease lost. */
  move(jobId: string, nodeId: string, from: readonly PreheatNodeState[], to: PreheatNodeState, now: number, o: MoveOptions = {}): Promise<number> {
    return this.scripts.preheatMove(
      K.job(jobId),
      K.nodes(jobId),
      K.lease(jobId),
      K.down(nodeId),
      jobId,
      nodeId,
      from.join(','),
      to,
      o.error ?? '',
      o.owner ?? '',
      o.progress?.chunksDone ?? 0,
      o.progress?.chunkCount ?? -1,
      now,
    );
  }

  /** No node starts after this; queued and down nodes become cancelled (by the caller, node by node). */
  async markCancelled(jobId: string, now: number): Promise<void> {
    await this.redis.hset(K.job(jobId), { cancelled: 1, updatedAt: now });
  }

  activeJobs(limit: number): Promise<string[]> {
    return this.redis.srandmember(K.active, limit);
  }

  /** The job has no work left: stop looking at it, and let its record expire. */
  async ended(jobId: string): Promise<void> {
    const m = this.redis.multi();
    m.srem(K.active, jobId);
    m.expire(K.job(jobId), ENDED_JOB_KEEP_S);
    m.expire(K.nodes(jobId), ENDED_JOB_KEEP_S);
    await m.exec();
  }

  /** The tracker recorded the node's completed download of the file (by request or from the facts stream). */
  async completed(fileId: string, nodeId: string): Promise<boolean> {
    // Counted and still a seeder: a node that downloaded the file once and deleted it since is not done.
    const [counted, seeder] = await Promise.all([this.redis.sismember(Keys.fileCompletions(fileId), nodeId), this.redis.sismember(Keys.fileSeeders(fileId), nodeId)]);
    return counted === 1 && seeder === 1;
  }

  countActive(): Promise<number> {
    return this.redis.scard(K.active);
  }

  /** Jobs in which the node is down (read at each of its announces: one small set). */
  downJobs(nodeId: string): Promise<string[]> {
    return this.redis.smembers(K.down(nodeId));
  }

  async forgetDown(nodeId: string, jobId: string): Promise<void> {
    await this.redis.srem(K.down(nodeId), jobId);
  }

  async lease(jobId: string, owner: string, ms: number): Promise<boolean> {
    return (await this.scripts.preheatLease(K.lease(jobId), owner, ms)) === 1;
  }

  async release(jobId: string, owner: string): Promise<void> {
    await this.scripts.preheatRelease(K.lease(jobId), owner);
  }
}
