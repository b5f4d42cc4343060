import { randomBytes } from 'node:crypto';
import {
  Bitfield,
  type Candidate,
  chunkLengthsOf,
  checkAllocation,
  DEFAULT_JOB_RETENTION,
  formatBytes,
  groupPlacement,
  JobTable,
  type JobRetention,
  type Logger,
  type Manifest,
  type PeerConnection,
  PeerRequestError,
  planPlacement,
  type ReplicateRequestSchema,
  type ReplicateStatus,
  SwarmError,
  toErrorBody,
} from '@swarmshare/common';
import type { z } from 'zod';
import type { ChunkRegions } from '../storage-io/chunk-regions';
import type { ChunkStoreClient } from '../storage-io/chunk-store.client';
import type { TrackerClient } from '../tracker/tracker.client';

export type ReplicateInput = z.output<typeof ReplicateRequestSchema>;

export interface ReplicatorOptions {
  nodeId: string;
  store: Pick<ChunkStoreClient, 'manifest' | 'have'>;
  regions: Pick<ChunkRegions, 'openRead'>;
  tracker: Pick<TrackerClient, 'candidates' | 'release' | 'replicationFinished'>;
  connect(address: string, expectNodeId: string): Promise<PeerConnection>;
  chunkTimeoutMs: number;
  storesInFlight: number;
  maxResends: number;
  onProgress?(s: ReplicateStatus, final: boolean): void;
  logger?: Logger;
}

interface Target {
  nodeId: string;
  address: string;
  /** Chunks placed here (acked or not); their bytes are what the receiver reserves. */
  assigned: Set<number>;
  acked: Set<number>;
  pending: number[];
  reservedBytes: number;
  /** Bytes the receiver has accepted a reservation for (via STORE_OFFER). */
  offeredBytes: number;
  conn?: PeerConnection;
  state: 'active' | 'dropped';
  reason?: string;
  resends: Map<number, number>;
}

/**
 * One replicated upload, driven by the seeder's gateway (the node that holds the whole file): push
 * each chunk to the peers the placement chose (STORE_OFFER with a reservation, then STORE per
 * chunk, acked once the receiver's chunk-store verified it), resend nacked chunks, re-place the
 * share of a peer that dies, refuses or times out, and only when every chunk has `replicas` acked
 * copies register the file with the tracker. Reservations are released however it ends.
 */
export class ReplicationJob {
  readonly status: ReplicateStatus;
  private readonly targets = new Map<string, Target>();
  private manifest!: Manifest;
  private lengths: number[] = [];
  private placement!: Map<string, number[]>;
  private done?: Promise<void>;
  private lastProgress = 0;
  private cancelled?: SwarmError;

  constructor(
    readonly req: ReplicateInput,
    private readonly o: ReplicatorOptions,
    readonly uploadId = `up-${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`,
  ) {
    this.status = {
      uploadId,
      fileId: req.fileId,
      state: 'running',
      replicas: req.replicas,
      chunkCount: 0,
      copiesAcked: 0,
      copiesNeeded: 0,
      bytesSent: 0,
      peers: [],
    };
  }

  /**
   * Checks that can refuse the upload before any byte moves: this node holds the whole file, and
   * the allocation (peers that are live candidates, within what they have available) holds the
   * requested copies. Throws with what would fit.
   */
  async prepare(): Promise<void> {
    const { fileId, replicas, allocation } = this.req;
    this.manifest = await this.o.store.manifest(fileId).catch((e) => {
      throw new SwarmError('NOT_FOUND', `node ${this.o.nodeId} does not hold file ${fileId.slice(0, 12)}: share it into this node first (${toErrorBody(e).message})`);
    });
    const have = await this.o.store.have(fileId);
    if (have.present !== have.chunkCount) {
      throw new SwarmError('BAD_REQUEST', `node ${this.o.nodeId} holds only ${have.present} of the ${have.chunkCount} chunks of ${fileId.slice(0, 12)}: a replicated upload starts from a node holding the whole file`);
    }
    if (allocation.some((a) => a.nodeId === this.o.nodeId)) throw new SwarmError('BAD_REQUEST', `the allocation names the seeder's own node ${this.o.nodeId}: replicas go to other peers`);
    const candidates = await this.o.tracker.candidates([this.o.nodeId]);
    this.lengths = chunkLengthsOf(this.manifest.size, this.manifest.chunkSize);
    // Grouped, each receiver's share is a few runs of chunks: a few fallocate calls there.
    this.placement = groupPlacement(checkAllocation(this.manifest.size, this.manifest.chunkSize, replicas, allocation, candidates, { clamp: true }).assign, this.lengths);
    this.status.chunkCount = this.lengths.length;
    this.status.copiesNeeded = this.lengths.length * replicas;
    const byId = new Map(candidates.map((c) => [c.nodeId, c]));
    for (const a of allocation) this.target(byId.get(a.nodeId)!);
    this.refreshStatus();
  }

  /** Run in the background; the status (and progress events) tell how it goes. */
  start(): Promise<void> {
    this.done ??= this.run();
    return this.done;
  }

  /** Stop (the file is being deleted here): every receiver is dropped, and the upload fails with CANCELLED. */
  async cancel(reason: string): Promise<void> {
    this.cancelled ??= new SwarmError('CANCELLED', reason);
    for (const t of this.targets.values()) this.drop(t, this.cancelled);
    await this.done?.catch(() => undefined);
  }

  get running(): boolean {
    return this.status.state === 'running';
  }

  private async run(): Promise<void> {
    const started = Date.now();
    try {
      let placement = this.placement;
      for (;;) {
        for (const [nodeId, idx] of placement) {
          const t = this.targets.get(nodeId)!;
          for (const i of idx) {
            t.assigned.add(i);
            t.pending.push(i);
            t.reservedBytes += this.lengths[i];
          }
        }
        this.refreshStatus();
        await Promise.all([...this.targets.values()].filter((t) => t.state === 'active' && t.pending.length > 0).map((t) => this.pump(t)));
        if (this.cancelled) throw this.cancelled;
        if (this.shortChunks() === 0) break;
        if (!this.req.replace) throw new SwarmError('UNAVAILABLE', `${this.shortChunks()} chunk(s) lack copies and re-placement is off`);
        placement = await this.replan();
      }
      const holders = [...this.targets.values()].filter((t) => t.state === 'active' && t.acked.size > 0).map((t) => t.nodeId);
      // Registers the placements; with no tracker up, a durable fact it applies when one comes back.
      await this.o.tracker.replicationFinished(
        {
          fileId: this.manifest.fileId,
          name: this.manifest.name,
          size: this.manifest.size,
          chunkSize: this.manifest.chunkSize,
          chunkCount: this.manifest.hashes.length,
          hash: this.req.hash,
          nodeId: this.o.nodeId,
          holders,
          replicas: this.req.replicas,
          ...(this.req.ttlMs !== undefined ? { ttlMs: this.req.ttlMs } : {}),
        },
        this.uploadId,
      );
      this.status.state = 'complete';
      this.o.logger?.info(
        { event: 'replicate.complete', uploadId: this.uploadId, fileId: this.req.fileId, holders, seconds: (Date.now() - started) / 1000 },
        'replicated upload complete',
      );
    } catch (e) {
      this.status.state = 'failed';
      this.status.error = `${toErrorBody(e).message}. Placed: ${this.report()}`;
      this.o.logger?.warn({ event: 'replicate.failed', uploadId: this.uploadId, fileId: this.req.fileId, error: this.status.error }, 'replicated upload failed');
    } finally {
      for (const t of this.targets.values()) t.conn?.close('upload done');
      // Nothing stays reserved, whatever happened (the tracker's TTL covers a crash of this node).
      await this.o.tracker.release(this.uploadId).catch((e) =>
        this.o.logger?.warn({ uploadId: this.uploadId, err: toErrorBody(e) }, 'could not release reservations; they expire with RESERVATION_TTL_MS'),
      );
      this.refreshStatus();
      this.o.onProgress?.(this.snapshot(), true);
    }
  }

  snapshot(): ReplicateStatus {
    this.refreshStatus();
    return { ...this.status, peers: this.status.peers.map((p) => ({ ...p })) };
  }

  private target(c: Pick<Candidate, 'nodeId' | 'address'>): Target {
    let t = this.targets.get(c.nodeId);
    if (!t) {
      t = { nodeId: c.nodeId, address: c.address, assigned: new Set(), acked: new Set(), pending: [], reservedBytes: 0, offeredBytes: 0, state: 'active', resends: new Map() };
      this.targets.set(c.nodeId, t);
    }
    return t;
  }

  /** Chunks with fewer than `replicas` acked copies on active peers. */
  private shortChunks(): number {
    const copies = new Array<number>(this.lengths.length).fill(0);
    for (const t of this.targets.values()) if (t.state === 'active') for (const i of t.acked) copies[i]++;
    return copies.filter((c) => c < this.req.replicas).length;
  }

  /** Place the missing copies on live candidates with room (not the dropped ones, not this node). */
  private async replan(): Promise<Map<string, number[]>> {
    const dropped = [...this.targets.values()].filter((t) => t.state === 'dropped').map((t) => t.nodeId);
    const candidates = await this.o.tracker.candidates([this.o.nodeId, ...dropped]);
    const existing = new Map<string, Set<number>>();
    for (const t of this.targets.values()) if (t.state === 'active') existing.set(t.nodeId, new Set(t.acked));
    try {
      const { assign } = planPlacement({ chunkLengths: this.lengths, replicas: this.req.replicas, budgets: candidates.map((c) => ({ nodeId: c.nodeId, bytes: c.available })), existing });
      for (const c of candidates) if (assign.has(c.nodeId)) this.target(c);
      this.o.logger?.info({ uploadId: this.uploadId, replaced: Object.fromEntries([...assign].map(([n, i]) => [n, i.length])) }, 're-placing chunks of dropped peers');
      return assign;
    } catch (e) {
      throw new SwarmError('NO_SPACE', `no peer has room for the copies the dropped peer(s) ${dropped.join(', ')} held (${toErrorBody(e).message})`);
    }
  }

  /** Offer (reserving what is assigned) and push this peer's pending chunks; any failure drops the peer. */
  private async pump(t: Target): Promise<void> {
    try {
      if (!t.conn) t.conn = await this.o.connect(t.address, t.nodeId);
      if (t.reservedBytes > t.offeredBytes) {
        // The receiver reserves with the tracker before it accepts; NO_SPACE comes back as ERROR{id}.
        // It names the chunks placed on it, so it allocates only their space (a sparse replica).
        const chunks = new Bitfield(this.lengths.length);
        for (const i of t.assigned) chunks.set(i);
        const reservation = { uploadId: this.uploadId, bytes: t.reservedBytes, chunks: chunks.toBase64() };
        await withTimeout(t.conn.offer(this.manifest, reservation), this.o.chunkTimeoutMs, `offer to ${t.nodeId}`);
        t.offeredBytes = t.reservedBytes;
      }
      const worker = async () => {
        while (t.pending.length > 0 && t.state === 'active') await this.sendOne(t, t.pending.shift()!);
      };
      await Promise.all(Array.from({ length: this.o.storesInFlight }, worker));
    } catch (e) {
      this.drop(t, e);
    }
  }

  private async sendOne(t: Target, index: number): Promise<void> {
    const region = await this.o.regions.openRead(this.req.fileId, index);
    try {
      await withTimeout(t.conn!.store(this.req.fileId, index, region.data), this.o.chunkTimeoutMs, `chunk ${index} to ${t.nodeId}`);
      this.ack(t, index);
    } catch (e) {
      if (e instanceof PeerRequestError && e.code === 'CONFLICT') return this.ack(t, index); // it already holds the chunk, verified
      const resends = t.resends.get(index) ?? 0;
      if (e instanceof PeerRequestError && (e.code === 'HASH_MISMATCH' || e.code === 'LOCKED') && resends < this.o.maxResends) {
        // A nack: send the chunk again (the receiver keeps it missing until one copy verifies).
        t.resends.set(index, resends + 1);
        t.pending.push(index);
        this.o.logger?.warn({ uploadId: this.uploadId, nodeId: t.nodeId, index, code: e.code }, 'chunk nacked; sending it again');
        return;
      }
      throw e;
    } finally {
      await region.release().catch(() => undefined);
    }
  }

  private ack(t: Target, index: number): void {
    t.acked.add(index);
    this.status.bytesSent += this.lengths[index];
    // At most 4 progress events a second (the final one always goes out).
    const now = Date.now();
    if (now - this.lastProgress < 250) return;
    this.lastProgress = now;
    this.refreshStatus();
    this.o.onProgress?.(this.snapshot(), false);
  }

  private drop(t: Target, e: unknown): void {
    if (t.state === 'dropped') return;
    t.state = 'dropped';
    t.reason = e instanceof PeerRequestError ? `${e.code}: ${e.message}` : toErrorBody(e).message;
    t.pending = [];
    t.conn?.close(`dropped from upload ${this.uploadId}`);
    this.o.logger?.warn({ uploadId: this.uploadId, nodeId: t.nodeId, reason: t.reason, acked: t.acked.size }, 'receiver dropped; its share will be re-placed');
    this.refreshStatus();
  }

  private refreshStatus(): void {
    this.status.peers = [...this.targets.values()]
      .filter((t) => t.assigned.size > 0 || t.state === 'dropped')
      .map((t) => ({
        nodeId: t.nodeId,
        chunks: t.acked.size,
        bytes: [...t.acked].reduce((n, i) => n + this.lengths[i], 0),
        reserved: t.reservedBytes,
        state: t.state,
        ...(t.reason ? { reason: t.reason } : {}),
      }));
    this.status.copiesAcked = [...this.targets.values()].filter((t) => t.state === 'active').reduce((n, t) => n + t.acked.size, 0);
  }

  /** What was placed where, for the failure message. */
  private report(): string {
    this.refreshStatus();
    const parts = this.status.peers.map((p) => `${p.nodeId} ${p.chunks} chunk(s) ${formatBytes(p.bytes)}${p.state === 'dropped' ? ` (dropped: ${p.reason})` : ''}`);
    return `${parts.join('; ') || 'nothing'}; ${this.status.copiesAcked} of ${this.status.copiesNeeded} copies acked; every reservation released; the file is not registered`;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new SwarmError('TIMEOUT', `${what} not acked within ${ms} ms`)), ms);
    }),
  ]);
}

/** The node's replicated uploads, by upload id; finished ones are kept for their status only for a while (JobTable). */
export class ReplicationsService {
  private readonly jobs: JobTable<ReplicationJob>;

  constructor(
    private readonly create: (req: ReplicateInput) => ReplicationJob,
    retention: JobRetention = DEFAULT_JOB_RETENTION,
    now?: () => number,
  ) {
    this.jobs = new JobTable(retention, now);
  }

  /** Refuses (throws) before any byte moves if the file is not here or the allocation cannot hold it. */
  async replicate(req: ReplicateInput): Promise<ReplicateStatus> {
    const job = this.create(req);
    await job.prepare();
    this.jobs.set(job.uploadId, job);
    void job.start().finally(() => this.jobs.finished(job.uploadId, job));
    return job.snapshot();
  }

  /** Cancel the running uploads of a file (it is being deleted here); returns how many. */
  async cancelFile(fileId: string, reason: string): Promise<number> {
    const running = this.jobs.values().filter((j) => j.req.fileId === fileId && j.running);
    await Promise.all(running.map((j) => j.cancel(reason)));
    return running.length;
  }

  status(uploadId: string): ReplicateStatus {
    const job = this.jobs.get(uploadId);
    if (!job) throw new SwarmError('NOT_FOUND', `no replicated upload ${uploadId} on this node`);
    return job.snapshot();
  }
}
