import { Inject, Injectable } from '@nestjs/common';
import {
  type AnnounceSchema,
  chunkCount,
  type DownloadCompletedSchema,
  type FileCompletedEvent,
  type FileRecord,
  type Logger,
  type PeerRecord,
  type RegisterFile,
  SERVICE_CONFIG,
  SERVICE_LOGGER,
  SwarmError,
  type TrackerConfig,
} from '@swarmshare/common';
import type { z } from 'zod';
import { heldFromAnnounce, planAnnounce } from './announce-plan';
import { Clock } from './clock';
import { assembleFileRecord, compareFiles, comparePeers, type StoredFileMeta } from './file-record';
import { isLive, livenessCutoff } from './liveness';
import { TrackerRepository, UNKNOWN_FILE } from './tracker.repository';

/** Parsed (defaults applied) forms of the request schemas. */
export type AnnounceInput = z.output<typeof AnnounceSchema>;
export type DownloadCompletedInput = z.output<typeof DownloadCompletedSchema>;

/** Expired peers removed per prune pass; the rest go on the next pass. */
const PRUNE_BATCH = 100;
/** Files whose swarms one announce updates at once. */
const ANNOUNCE_CONCURRENCY = 256;

/**
 * The tracker's rules: the registry of peers and files. Stateless between calls (all state is in
 * Redis, behind TrackerRepository), so any number of replicas can serve the same queue group.
 */
@Injectable()
export class TrackerService {
  private readonly ttlMs: number;

  constructor(
    private readonly repo: TrackerRepository,
    private readonly clock: Clock,
    @Inject(SERVICE_CONFIG) config: Pick<TrackerConfig, 'PEER_TTL_MS'>,
    @Inject(SERVICE_LOGGER) private readonly logger: Logger,
  ) {
    this.ttlMs = config.PEER_TTL_MS;
  }

  /** Upsert the peer, then reconcile its swarm memberships with what it reports holding. */
  async announce(a: AnnounceInput): Promise<PeerRecord> {
    const now = this.clock.now();
    const held = heldFromAnnounce(a.complete, a.partial);
    const peer: PeerRecord = { nodeId: a.nodeId, address: a.address, capacity: a.capacity, free: a.free, lastSeen: now, files: held.size };
    const previous = await this.repo.recordAnnounce(peer, held);
    const { seed, leech, drop } = planAnnounce(previous, held);
    // Unknown file ids come back as UNKNOWN_FILE and are simply ignored: the node may hold files
    // that were never registered here (or not yet re-registered after Redis lost its data).
    await inBatches(seed, (id) => this.repo.updateSwarm(id, 'seed', a.nodeId, now));
    await inBatches(leech, (id) => this.repo.updateSwarm(id, 'leech', a.nodeId, now));
    await inBatches(drop, (id) => this.repo.dropFromSwarm(id, [a.nodeId]));
    await this.pruneExpiredPeers(now);
    return peer;
  }

  /** Idempotent per file id; the registering node becomes a seeder. */
  async registerFile(r: RegisterFile): Promise<FileRecord> {
    const expected = chunkCount(r.size, r.chunkSize);
    if (r.chunkCount !== expected) {
      throw new SwarmError('BAD_REQUEST', `invalid registerFile: chunkCount is ${r.chunkCount} but a ${r.size}-byte file in ${r.chunkSize}-byte chunks has ${expected}`);
    }
    const now = this.clock.now();
    const meta: StoredFileMeta = { fileId: r.fileId, name: r.name, size: r.size, chunkSize: r.chunkSize, chunkCount: r.chunkCount, hash: r.hash, registeredAt: now };
    const stored = await this.repo.createFile(meta);
    const clash = (['size', 'chunkSize', 'chunkCount', 'hash'] as const).filter((k) => stored[k] !== meta[k]);
    if (clash.length > 0) {
      throw new SwarmError('CONFLICT', `file ${r.fileId} is already registered with a different ${clash.join(', ')}: a file id names exactly one content`);
    }
    // The same bytes registered under another name stay one file (the id is the content); the
    // record keeps its first name and the new name is indexed too, so find works with either.
    // Re-indexing on every registration also repairs an index lost with Redis data.
    await this.repo.indexFile(stored.fileId, r.name, stored.registeredAt);
    if (r.name !== stored.name) await this.repo.indexFile(stored.fileId, stored.name, stored.registeredAt);
    await this.repo.updateSwarm(r.fileId, 'seed', r.nodeId, now);
    return this.getFile(r.fileId);
  }

  async getFile(fileId: string): Promise<FileRecord> {
    const [record] = await this.records([fileId]);
    if (!record) throw new SwarmError('NOT_FOUND', `no file with id ${fileId} is registered with the tracker`);
    return record;
  }

  /** Exact name match; several files may share a name. */
  async findFile(name: string): Promise<FileRecord[]> {
    return (await this.records(await this.repo.fileIdsByName(name))).sort(compareFiles);
  }

  async listFiles(): Promise<FileRecord[]> {
    return (await this.records(await this.repo.fileIds())).sort(compareFiles);
  }

  /** Live peers, most free space first. */
  async listPeers(): Promise<PeerRecord[]> {
    const now = this.clock.now();
    await this.pruneExpiredPeers(now);
    const peers = await this.repo.peersSeenSince(livenessCutoff(now, this.ttlMs));
    return peers.filter((p) => isLive(p, now, this.ttlMs)).sort(comparePeers);
  }

  /** The node is a leecher of the file while it downloads. */
  async downloadStarted(fileId: string, nodeId: string): Promise<FileRecord> {
    await this.swarmOrNotFound(fileId, await this.repo.updateSwarm(fileId, 'leech', nodeId, this.clock.now()));
    return this.getFile(fileId);
  }

  /** The node becomes a seeder; the download counts once per (file, node), however often it is reported. */
  async downloadCompleted(d: DownloadCompletedInput): Promise<FileRecord> {
    const counted = await this.repo.updateSwarm(d.fileId, 'complete', d.nodeId, this.clock.now());
    await this.swarmOrNotFound(d.fileId, counted);
    const bytes = d.from.reduce((sum, f) => sum + f.bytes, 0);
    this.logger.info(
      { event: 'download.completed', fileId: d.fileId, nodeId: d.nodeId, counted: counted === 1, sources: d.from.length, bytes },
      counted === 1 ? 'download completed' : 'download completion already counted',
    );
    return this.getFile(d.fileId);
  }

  /** A chunk-store finished a file: its node is a seeder. Does not count a download (downloadCompleted does). */
  async fileCompleted(e: FileCompletedEvent): Promise<void> {
    const r = await this.repo.updateSwarm(e.fileId, 'seed', e.nodeId, this.clock.now());
    if (r === UNKNOWN_FILE) this.logger.debug({ fileId: e.fileId, nodeId: e.nodeId }, 'file.completed for a file the tracker does not know; ignored');
  }

  private async swarmOrNotFound(fileId: string, result: number): Promise<void> {
    if (result === UNKNOWN_FILE) throw new SwarmError('NOT_FOUND', `no file with id ${fileId} is registered with the tracker: register it first`);
  }

  /** Records for the given ids (unregistered ids skipped), with only live peers listed; dead members are pruned. */
  private async records(fileIds: readonly string[]): Promise<FileRecord[]> {
    const now = this.clock.now();
    const stored = (await Promise.all([...new Set(fileIds)].map((id) => this.repo.readFile(id)))).filter((f) => f !== null);
    const members = new Set(stored.flatMap((f) => [...f.seeders, ...f.leechers.map((l) => l.nodeId)]));
    const peers = await this.repo.getPeers([...members]);
    const out: FileRecord[] = [];
    const prunes: Promise<void>[] = [];
    for (const f of stored) {
      const { record, dead } = assembleFileRecord(f, peers, now, this.ttlMs);
      out.push(record);
      // Lazy pruning: a dead member comes back by re-announcing, which re-adds it from its holdings.
      if (dead.length > 0) prunes.push(this.repo.dropFromSwarm(f.meta.fileId, dead));
    }
    await Promise.all(prunes);
    return out;
  }

  private async pruneExpiredPeers(now: number): Promise<void> {
    const cutoff = livenessCutoff(now, this.ttlMs);
    const expired = await this.repo.expiredPeerIds(cutoff, PRUNE_BATCH);
    const removed = (await Promise.all(expired.map(async (id) => ((await this.repo.prunePeer(id, cutoff)) ? id : null)))).filter((id) => id !== null);
    if (removed.length > 0) this.logger.info({ event: 'peers.pruned', nodeIds: removed }, `pruned ${removed.length} expired peer(s)`);
  }
}

/** Run `fn` over items with bounded concurrency (an announce may list many files). */
async function inBatches<T>(items: readonly T[], fn: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += ANNOUNCE_CONCURRENCY) {
    await Promise.all(items.slice(i, i + ANNOUNCE_CONCURRENCY).map(fn));
  }
}
