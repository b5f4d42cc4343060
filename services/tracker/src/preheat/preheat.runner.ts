import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import {
  DownloadStatusSchema,
  gatewaySubjects,
  type Logger,
  NatsRpc,
  NoResponderError,
  type PreheatNode,
  SERVICE_CONFIG,
  SERVICE_LOGGER,
  SwarmError,
  toErrorBody,
  type TrackerConfig,
} from '@swarmshare/common';
import { Clock } from '../clock';
import { hasWorkLeft, statusOutcome, type StatusOutcome } from './preheat-plan';
import { PreheatStore, type StoredJob } from './preheat.store';

/** Jobs one tracker looks at per tick, at most (the rest are looked at by later ticks, or other trackers). */
const JOBS_PER_TICK = 100;
/** How often the runner steps its jobs, at most (more often when the lease is short). */
const TICK_MS = 1000;

/**
 * Runs preheat jobs (issue 14). Every tracker runs one; a job is stepped only by the tracker holding
 * its lease (PREHEAT_LEASE_MS, renewed every tick), so a crashed tracker's jobs are resumed by
 * another (or by itself restarted) once the lease expires. Each step: follow the running nodes (a
 * download the durable facts recorded as completed is done; else the node's gateway says), then start
 * queued nodes while fewer than `concurrency` run. Nodes that do not answer are `down` until they
 * announce again (PreheatService.nodeAnnounced).
 */
@Injectable()
export class PreheatRunner implements OnApplicationBootstrap, OnApplicationShutdown {
  /** This process, as a lease owner: a restarted tracker is another owner and waits for the lease. */
  readonly owner = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private timer?: NodeJS.Timeout;
  private ticking?: Promise<void>;
  private readonly held = new Set<string>();
  private readonly leaseMs: number;
  private readonly downWaitMs: number;

  constructor(
    private readonly store: PreheatStore,
    private readonly rpc: NatsRpc,
    private readonly clock: Clock,
    @Inject(SERVICE_CONFIG) config: Pick<TrackerConfig, 'PREHEAT_LEASE_MS' | 'PREHEAT_DOWN_WAIT_MS'>,
    @Inject(SERVICE_LOGGER) private readonly logger: Logger,
  ) {
    this.leaseMs = config.PREHEAT_LEASE_MS;
    this.downWaitMs = config.PREHEAT_DOWN_WAIT_MS;
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => {
      if (this.ticking) return;
      this.ticking = this.tick()
        .catch((e: unknown) => this.logger.warn({ err: toErrorBody(e) }, 'a preheat step failed; the next one retries'))
        .finally(() => (this.ticking = undefined));
    }, Math.min(TICK_MS, Math.floor(this.leaseMs / 3)));
  }

  /** Stop, and give the leases back so another tracker resumes the jobs at once. */
  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.ticking;
    await Promise.all([...this.held].map((id) => this.store.release(id, this.owner).catch(() => undefined)));
  }

  async tick(): Promise<void> {
    for (const jobId of await this.store.activeJobs(JOBS_PER_TICK)) {
      if (!(await this.store.lease(jobId, this.owner, this.leaseMs))) {
        this.held.delete(jobId);
        continue;
      }
      if (!this.held.has(jobId)) this.logger.info({ event: 'preheat.lease', jobId, owner: this.owner }, 'running a preheat job');
      this.held.add(jobId);
      await this.step(jobId);
    }
  }

  private async step(jobId: string): Promise<void> {
    let job = await this.store.read(jobId);
    if (!job || !hasWorkLeft(job.cancelled, job.nodes)) {
      await this.store.ended(jobId);
      await this.store.release(jobId, this.owner);
      this.held.delete(jobId);
      if (job) this.logger.info({ event: 'preheat.ended', jobId, fileId: job.fileId, cancelled: job.cancelled, nodes: summary(job.nodes) }, 'preheat job ended');
      return;
    }
    const now = this.clock.now();
    for (const n of job.nodes) {
      if (n.state === 'down' && now - job.createdAt > this.downWaitMs) {
        await this.store.move(jobId, n.nodeId, ['down'], 'failed', now, { owner: this.owner, error: `node did not come back within PREHEAT_DOWN_WAIT_MS (${this.downWaitMs} ms)` });
      }
    }
    await Promise.all(job.nodes.filter((n) => n.state === 'running').map((n) => this.follow(job!, n)));
    if (job.cancelled) return;
    job = (await this.store.read(jobId))!;
    // Take the free slots first (each one fenced by the lease and the limit), then ask those nodes
    // together: one slow node does not hold up the others, nor the lease's next renewal.
    let free = job.concurrency - job.nodes.filter((n) => n.state === 'running').length;
    const starting: string[] = [];
    for (const n of job.nodes) {
      if (free <= 0) break;
      if (n.state !== 'queued') continue;
      const moved = await this.store.move(jobId, n.nodeId, ['queued'], 'running', this.clock.now(), { owner: this.owner });
      if (moved === -1) break; // lease lost: another tracker runs the job now
      if (moved === 0) continue;
      free--;
      starting.push(n.nodeId);
    }
    await Promise.all(starting.map((nodeId) => this.begin(job!, nodeId)));
  }

  /** Ask the node to download (or join its download); what it answers moves it on. */
  private async begin(job: StoredJob, nodeId: string): Promise<void> {
    try {
      const s = await this.rpc.request(gatewaySubjects(nodeId).fetch, { fileId: job.fileId }, DownloadStatusSchema);
      this.logger.info({ event: 'preheat.node.started', jobId: job.jobId, nodeId, fileId: job.fileId }, 'preheat: node asked to download');
      await this.apply(job, nodeId, statusOutcome(s));
    } catch (e) {
      await this.failedAsk(job, nodeId, e);
    }
  }

  /** A running node: done once its completed download is recorded (a durable fact), else as its gateway says. */
  private async follow(job: StoredJob, n: PreheatNode): Promise<void> {
    if (await this.store.completed(job.fileId, n.nodeId)) return this.apply(job, n.nodeId, { to: 'done' });
    try {
      const s = await this.rpc.request(gatewaySubjects(n.nodeId).status, { fileId: job.fileId }, DownloadStatusSchema);
      await this.apply(job, n.nodeId, statusOutcome(s));
    } catch (e) {
      // The gateway restarted and lost the download: ask again (fetching joins or resumes).
      if (e instanceof SwarmError && e.code === 'NOT_FOUND') return this.begin(job, n.nodeId);
      // A slow reply: the next step asks again.
      if (e instanceof SwarmError && e.code === 'TIMEOUT') return;
      await this.failedAsk(job, n.nodeId, e);
    }
  }

  private async apply(job: StoredJob, nodeId: string, o: StatusOutcome): Promise<void> {
    const now = this.clock.now();
    if (o.to === 'running') {
      await this.store.move(job.jobId, nodeId, ['running'], 'running', now, { owner: this.owner, progress: o.progress });
      return;
    }
    const moved = await this.store.move(job.jobId, nodeId, ['running'], o.to, now, { owner: this.owner, ...(o.to === 'failed' ? { error: o.error } : {}) });
    if (moved === 1) this.logger.info({ event: `preheat.node.${o.to}`, jobId: job.jobId, nodeId, fileId: job.fileId, ...(o.to === 'failed' ? { error: o.error } : {}) }, `preheat: node ${o.to}`);
  }

  /**
   * A node that does not answer (nothing subscribed, or no reply in time) is down: it is asked again
   * when it announces. A node that answered with an error (NO_SPACE, say) failed.
   */
  private async failedAsk(job: StoredJob, nodeId: string, e: unknown): Promise<void> {
    const err = toErrorBody(e);
    const down = e instanceof NoResponderError || err.code === 'TIMEOUT';
    const to = down ? 'down' : 'failed';
    const error = down ? `node did not answer (${err.message}); it gets the file when it announces again` : `${err.code}: ${err.message}`;
    await this.store.move(job.jobId, nodeId, ['running'], to, this.clock.now(), { owner: this.owner, error });
    this.logger.info({ event: `preheat.node.${to}`, jobId: job.jobId, nodeId, fileId: job.fileId, error }, `preheat: node ${to}`);
  }
}

function summary(nodes: readonly PreheatNode[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of nodes) out[n.state] = (out[n.state] ?? 0) + 1;
  return out;
}
