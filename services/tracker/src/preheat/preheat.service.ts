import { randomBytes } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import {
  type Logger,
  type PreheatJob,
  type PreheatNode,
  PREHEAT_MAX_NODES,
  PreheatStartRequestSchema,
  SERVICE_LOGGER,
  SwarmError,
  toErrorBody,
} from '@swarmshare/common';
import type { z } from 'zod';
import { Clock } from '../clock';
import { TrackerService } from '../tracker.service';
import { choosePercent, jobState } from './preheat-plan';
import { PreheatStore, type StoredJob } from './preheat.store';

/** Jobs with work left, at most, swarm-wide: a bound on what the runners look at. */
export const MAX_ACTIVE_JOBS = 1000;

/**
 * Preheat jobs for operators (issue 14): starts them, reads them, cancels them, and hands a node
 * that announces again the jobs it missed while down. The work itself is PreheatRunner's.
 */
@Injectable()
export class PreheatService {
  constructor(
    private readonly store: PreheatStore,
    private readonly tracker: TrackerService,
    private readonly clock: Clock,
    @Inject(SERVICE_LOGGER) private readonly logger: Logger,
  ) {}

  async start(req: z.output<typeof PreheatStartRequestSchema>): Promise<PreheatJob> {
    const file = await this.tracker.getFile(req.fileId);
    if ((await this.store.countActive()) >= MAX_ACTIVE_JOBS) {
      throw new SwarmError('UNAVAILABLE', `${MAX_ACTIVE_JOBS} preheat jobs are running already: wait for some to end, or cancel some (preheat --cancel JOB)`);
    }
    let targets: string[];
    if (req.nodes) targets = [...new Set(req.nodes)];
    else {
      const live = (await this.tracker.listPeers()).map((p) => p.nodeId).slice(0, PREHEAT_MAX_NODES);
      targets = req.all ? live : choosePercent(live, new Set(file.seeders.map((s) => s.nodeId)), req.percent!);
    }
    if (targets.length === 0) throw new SwarmError('NOT_FOUND', 'no live peer to preheat: start nodes first, or name them with --nodes');
    // A complete seeder needs nothing: it is `held` from the start.
    const seeders = new Set(file.seeders.map((s) => s.nodeId));
    const nodes: PreheatNode[] = targets.map((nodeId) => ({ nodeId, state: seeders.has(nodeId) ? 'held' : 'queued', attempts: 0 }));
    const jobId = `ph-${randomBytes(8).toString('hex')}`;
    const now = this.clock.now();
    await this.store.create(jobId, req.fileId, req.concurrency, nodes, now);
    this.logger.info({ event: 'preheat.started', jobId, fileId: req.fileId, nodes: targets.length, concurrency: req.concurrency }, 'preheat job started');
    return this.status(jobId);
  }

  async status(jobId: string): Promise<PreheatJob> {
    return toJob(await this.read(jobId));
  }

  /** No node starts any more; queued and down nodes are cancelled. Running downloads finish on their nodes. */
  async cancel(jobId: string): Promise<PreheatJob> {
    const job = await this.read(jobId);
    const now = this.clock.now();
    await this.store.markCancelled(jobId, now);
    // After the mark, nothing moves a node to queued or running again (the move script checks it).
    for (const n of job.nodes) {
      if (n.state === 'queued' || n.state === 'down') await this.store.move(jobId, n.nodeId, ['queued', 'down'], 'cancelled', now);
    }
    this.logger.info({ event: 'preheat.cancelled', jobId, fileId: job.fileId }, 'preheat job cancelled');
    return this.status(jobId);
  }

  /**
   * A node announced: in every job where it was down, it is queued again (unless the job was
   * cancelled, or the node is no longer down there). Never fails the announce.
   */
  async nodeAnnounced(nodeId: string): Promise<void> {
    try {
      const jobs = await this.store.downJobs(nodeId);
      for (const jobId of jobs) {
        const moved = await this.store.move(jobId, nodeId, ['down'], 'queued', this.clock.now());
        if (moved === 1) this.logger.info({ event: 'preheat.node.returned', jobId, nodeId }, 'a node that was down is back: queued again for preheat');
        else await this.store.forgetDown(nodeId, jobId);
      }
    } catch (e) {
      this.logger.warn({ err: toErrorBody(e), nodeId }, 'could not look up the preheat jobs of an announcing node; its next announce tries again');
    }
  }

  private async read(jobId: string): Promise<StoredJob> {
    const job = await this.store.read(jobId);
    if (!job) throw new SwarmError('NOT_FOUND', `no preheat job ${jobId} (ended jobs are kept 7 days)`);
    return job;
  }
}

export function toJob(j: StoredJob): PreheatJob {
  return {
    jobId: j.jobId,
    fileId: j.fileId,
    concurrency: j.concurrency,
    state: jobState(j.cancelled, j.nodes),
    createdAt: j.createdAt,
    updatedAt: j.updatedAt,
    peakRunning: j.peak,
    ...(j.owner ? { owner: j.owner } : {}),
    nodes: j.nodes,
  };
}
