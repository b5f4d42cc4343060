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
  type Candidate,
  type Reservation,
  type ReserveRequest,
  formatBytes,
  type DownloadAcked,
  type AnnounceReply,
  type PeerUnreachable,
  MAX_UNKNOWN_PER_ANNOUNCE,
} from '@swarmshare/common';
import type { z } from 'zod';
import { heldFromAnnounce, planAnnounce } from './announce-plan';
import { Clock } from './clock';
import { assembleFileRecord, compareFiles, comparePeers, isForgettable, type StoredFileMeta } from './file-record';
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
  private readonly reservationTtlMs: number;
  private readonly tombstoneTtlMs: number;

  constructor(
    private readonly repo: TrackerRepository,
    private readonly clock: Clock,
    @Inject(SERVICE_CONFIG) config: Pick<TrackerConfig, 'PEER_TTL_MS'> & Partial<Pick<TrackerConfig, 'RESERVATION_TTL_MS' | 'TOMBSTONE_TTL_MS'>>,
    @Inject(SERVICE_LOGGER) private readonly logger: Logger,
  ) {
    this.ttlMs = config.PEER_TTL_MS;
    this.reservationTtlMs = config.RESERVATION_TTL_MS ?? 1_800_000;
    this.tombstoneTtlMs = config.TOMBSTONE_TTL_MS ?? 604_800_000;
  }

  /**
   * Upsert the peer, then reconcile its swarm memberships with what it reports holding. Files it
   * holds that the tracker has no record of come back as `unknown`, so the node can register them
   * again (after Redis lost its data, say).
   */
  async announce(a: AnnounceInput): Promise<AnnounceReply> {
    const now = this.clock.now();
    const held = heldFromAnnounce(a.complete, a.partial, a.downloading);
    const peer: PeerRecord = { nodeId: a.nodeId, address: a.address, capacity: a.capacity, free: a.free, lastSeen: now, files: held.size };
    // Pins are kept only for files the node holds: a pin of anything else means nothing to `ls`.
    const previous = await this.repo.recordAnnounce(peer, held, a.pinned?.filter((id) => held.has(id)));
    const { seed, leech, hold, drop } = planAnnounce(previous, held);
    // Unknown file ids come back as UNKNOWN_FILE: the node holds files that were never registered
    // here, or that Redis lost. They are listed in the reply; the node re-registers what it can.
    const missing: string[] = [];
    const update = (mode: 'seed' | 'partial' | 'hold') => async (id: string) => {
      if ((await this.repo.updateSwarm(id, mode, a.nodeId, now)) === UNKNOWN_FILE) missing.push(id);
    };
    await inBatches(seed, update('seed'));
    // 'partial': a replica holder's share is partial on purpose; it stays a seeder (see the repository).
    await inBatches(leech, update('partial'));
    await inBatches(hold, update('hold'));
    await inBatches(drop, (id) => this.repo.dropFromSwarm(id, [a.nodeId]));
    await this.pruneExpiredPeers(now);
    // Of those, files deleted everywhere while this node was away come back as `deleted`: the node
    // deletes its copy instead of registering it again (issue 14).
    const gone = new Set(missing.length > 0 ? await this.repo.tombstoned(missing, now - this.tombstoneTtlMs) : []);
    const unknown = missing.filter((id) => !gone.has(id)).slice(0, MAX_UNKNOWN_PER_ANNOUNCE);
    const deleted = [...gone].slice(0, MAX_UNKNOWN_PER_ANNOUNCE);
    if (deleted.length > 0) this.logger.info({ event: 'file.tombstone.answered', nodeId: a.nodeId, fileIds: deleted }, 'told a node to delete files deleted everywhere while it was away');
    return { ...peer, unknown, deleted };
  }

  /** The tombstone of a file deleted everywhere, if it is younger than TOMBSTONE_TTL_MS. */
  async isTombstoned(fileId: string): Promise<boolean> {
    return (await this.repo.tombstoned([fileId], this.clock.now() - this.tombstoneTtlMs)).length > 0;
  }

  /** Idempotent per file id; the registering node becomes a seeder. */
  async registerFile(r: RegisterFile): Promise<FileRecord> {
    const expected = chunkCount(r.size, r.chunkSize);
    if (r.chunkCount !== expected) {
      throw new SwarmError('BAD_REQUEST', `invalid registerFile: chunkCount is ${r.chunkCount} but a ${r.size}-byte file in ${r.chunkSize}-byte chunks has ${expected}`);
    }
    const now = this.clock.now();
    if (await this.isTombstoned(r.fileId)) {
      // A node that was away must not bring back a file deleted everywhere; a new share may.
      if (r.restore) throw new SwarmError('NOT_FOUND', `file ${r.fileId} was deleted everywhere: it is not registered again (delete this node's copy)`);
      await this.repo.clearTombstone(r.fileId);
      this.logger.info({ event: 'file.tombstone.cleared', fileId: r.fileId, nodeId: r.nodeId }, 'a file deleted everywhere was shared again');
    }
    const expiresAt = r.ttlMs !== undefined ? now + r.ttlMs : undefined;
    const meta: StoredFileMeta = { fileId: r.fileId, name: r.name, size: r.size, chunkSize: r.chunkSize, chunkCount: r.chunkCount, hash: r.hash, registeredAt: now, ...(expiresAt ? { expiresAt } : {}) };
    const stored = await this.repo.createFile(meta);
    const clash = (['size', 'chunkSize', 'chunkCount', 'hash'] as const).filter((k) => stored[k] !== meta[k]);
    if (clash.length > 0) {
      throw new SwarmError('CONFLICT', `file ${r.fileId} is already registered with a different ${clash.join(', ')}: a file id names exactly one content`);
    }
    // Sharing a registered file again with --ttl renews its expiry; without, the expiry stays.
    if (expiresAt !== undefined && stored.expiresAt !== expiresAt) await this.repo.setExpiry(r.fileId, expiresAt);
    if (expiresAt !== undefined) this.logger.info({ event: 'file.ttl.set', fileId: r.fileId, nodeId: r.nodeId, expiresAt }, 'file expiry set');
    // The same bytes registered under another name stay one file (the id is the content); the
    // record keeps its first name and the new name is indexed too, so find works with either.
    // Re-indexing on every registration also repairs an index lost with Redis data.
    await this.repo.indexFile(stored.fileId, r.name, stored.registeredAt);
    if (r.name !== stored.name) await this.repo.indexFile(stored.fileId, stored.name, stored.registeredAt);
    await this.repo.updateSwarm(r.fileId, 'seed', r.nodeId, now);
    // A replicated upload: the peers holding the acked copies serve their share; they are listed as
    // partial holders until their own announce says they hold the whole file.
    const holders = [...new Set(r.holders ?? [])].filter((n) => n !== r.nodeId);
    if (holders.length > 0) {
      await this.repo.addReplicas(r.fileId, holders, r.replicas ?? 1);
      await Promise.all(holders.map((n) => this.repo.updateSwarm(r.fileId, 'partial', n, now)));
    }
    return this.getFile(r.fileId);
  }

  /** Live peers with room for an upload (free minus reservations), most available first. */
  async candidates(exclude: readonly string[] = []): Promise<Candidate[]> {
    const peers = (await this.listPeers()).filter((p) => !exclude.includes(p.nodeId));
    const reserved = new Map<string, number>();
    for (const r of await this.repo.reservations(peers.map((p) => p.nodeId), this.clock.now())) {
      reserved.set(r.nodeId, (reserved.get(r.nodeId) ?? 0) + r.bytes);
    }
    return peers
      .map((p) => {
        const res = reserved.get(p.nodeId) ?? 0;
        return { nodeId: p.nodeId, address: p.address, capacity: p.capacity, free: p.free, reserved: res, available: Math.max(0, p.free - res) };
      })
      .filter((c) => c.available > 0)
      .sort((a, b) => b.available - a.available || (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
  }

  /**
   * Set an upload's reservation on a node, atomically against every other reservation there (one
   * Lua script), so two racing uploads never overcommit a peer. NO_SPACE says what is available.
   */
  async reserve(r: ReserveRequest): Promise<Reservation> {
    const now = this.clock.now();
    const expiresAt = now + this.reservationTtlMs;
    const [ok, left] = await this.repo.reserve(r.nodeId, r.uploadId, r.bytes, now, expiresAt, livenessCutoff(now, this.ttlMs));
    if (ok === -1) throw new SwarmError('UNAVAILABLE', `node ${r.nodeId} is not a live peer: it cannot take a reservation`);
    if (ok === 0) {
      throw new SwarmError('NO_SPACE', `node ${r.nodeId} cannot reserve ${formatBytes(r.bytes)} for upload ${r.uploadId}: only ${formatBytes(left)} available after other uploads' reservations`);
    }
    this.logger.info({ event: 'reservation.set', uploadId: r.uploadId, nodeId: r.nodeId, bytes: r.bytes, left }, 'space reserved');
    return { uploadId: r.uploadId, nodeId: r.nodeId, bytes: r.bytes, expiresAt };
  }

  /** Drop every reservation of an upload (it ended, or failed). Idempotent. */
  async release(uploadId: string): Promise<{ uploadId: string; released: number }> {
    const released = await this.repo.release(uploadId);
    this.logger.info({ event: 'reservation.released', uploadId, nodes: released }, 'reservations released');
    return { uploadId, released };
  }

  /** Unexpired reservations on live peers. */
  async listReservations(): Promise<Reservation[]> {
    const peers = await this.listPeers();
    return this.repo.reservations(peers.map((p) => p.nodeId), this.clock.now());
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
    return peers
      .filter((p) => isLive(p, now, this.ttlMs))
      .map(({ unreachableAt: _, pins: __, ...p }) => p)
      .sort(comparePeers);
  }

  /**
   * A downloader could not reach `nodeId`: it is not listed (peers, seeders, candidates) until it
   * announces again. Only a known peer is marked, so the marks stay bounded by the peers.
   */
  async peerUnreachable(r: PeerUnreachable): Promise<{ nodeId: string; hidden: boolean }> {
    const hidden = await this.repo.markUnreachable(r.nodeId, this.clock.now());
    if (hidden) this.logger.info({ event: 'peer.unreachable', nodeId: r.nodeId, reporter: r.reporter }, 'a downloader could not reach a peer: hidden until it announces again');
    return { nodeId: r.nodeId, hidden };
  }

  /** A download ended without completing: the node is no longer a leecher (what it holds is announced). */
  async downloadStopped(fileId: string, nodeId: string): Promise<FileRecord> {
    await this.repo.dropLeecher(fileId, nodeId);
    return this.getFile(fileId);
  }

  /** The node is a leecher of the file while it downloads. */
  async downloadStarted(fileId: string, nodeId: string): Promise<FileRecord> {
    const { expiresAt } = await this.getFile(fileId);
    if (expiresAt !== undefined && expiresAt <= this.clock.now()) {
      throw new SwarmError('NOT_FOUND', `file ${fileId} expired at ${new Date(expiresAt).toISOString()} (share --ttl): it is not fetched any more; its holders' GC removes it`);
    }
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

  /**
   * A holder's ack (seed's download step 7): the downloader got `bytes` from it. The download is
   * recorded (counted once per (file, node), like downloadCompleted) and the downloader is a seeder;
   * what each holder served is kept per (downloader, holder).
   */
  async downloadAcked(a: DownloadAcked): Promise<FileRecord> {
    const counted = await this.repo.updateSwarm(a.fileId, 'complete', a.nodeId, this.clock.now());
    await this.swarmOrNotFound(a.fileId, counted);
    await this.repo.recordAck(a.fileId, a.nodeId, a.holder, a.bytes);
    this.logger.info({ event: 'download.acked', fileId: a.fileId, nodeId: a.nodeId, holder: a.holder, bytes: a.bytes, chunks: a.chunks, counted: counted === 1 }, 'holder acked a download');
    return this.getFile(a.fileId);
  }

  /** What each holder served each downloader, from the holders' acks. */
  async servedBy(fileId: string): Promise<Array<{ nodeId: string; holder: string; bytes: number }>> {
    return this.repo.acks(fileId);
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
      if (isForgettable(record, now)) {
        prunes.push(this.forgetExpired(record.fileId, now));
        continue;
      }
      out.push(record);
      // Lazy pruning: a dead member comes back by re-announcing, which re-adds it from its holdings.
      if (dead.length > 0) prunes.push(this.repo.dropFromSwarm(f.meta.fileId, dead));
    }
    await Promise.all(prunes);
    return out;
  }

  /**
   * An expired file no live peer holds any more: its record goes, and a tombstone (as for
   * `rm --everywhere`) makes a holder that was away delete its copy instead of registering it again.
   */
  private async forgetExpired(fileId: string, now: number): Promise<void> {
    await this.repo.setTombstone(fileId, now);
    if (await this.repo.removeFile(fileId)) this.logger.info({ event: 'file.expired.forgotten', fileId }, 'expired file forgotten: no live peer holds it any more');
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
