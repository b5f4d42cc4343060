import {
  type PreheatJob,
  PreheatJobSchema,
  PREHEAT_DEFAULT_CONCURRENCY,
  type PreheatStartRequest,
  SwarmError,
  TrackerSubjects,
} from '@swarmshare/common/contracts';
import type { CliContext } from '../context';
import { resolveFileId } from '../file-ids';
import { countBar } from '../progress';

export interface PreheatOptions {
  fileId?: string;
  nodes?: string[];
  all?: boolean;
  percent?: number;
  concurrency?: number;
  /** Cancel this job instead. */
  cancel?: string;
  /** Show this job instead (following it unless --detach). */
  status?: string;
  /** Return once the job is started (or shown), without following it. */
  detach?: boolean;
  json?: boolean;
}

/** How often a followed job is read. */
const POLL_MS = 500;
/** The tracker not answering for this long (a restart takes seconds) ends the follow with UNAVAILABLE. */
const TRACKER_AWAY_MS = 60_000;
/** No node changing state or progress for this long ends the follow with TIMEOUT (the job goes on). */
const FOLLOW_IDLE_MS = 300_000;

/**
 * `swarmshare preheat ID (--nodes b,c | --all | --percent P) [--concurrency K]`: the tracker makes the
 * chosen nodes download the file in the background, at most K at once (issue 14). The CLI follows
 * the job until no node is queued or running, then prints each node's result; the job goes on without
 * it (nodes that are down get the file when they come back). `--status JOB`, `--cancel JOB`.
 */
export async function preheat(ctx: CliContext, o: PreheatOptions): Promise<void> {
  let job: PreheatJob;
  if (o.cancel !== undefined || o.status !== undefined) {
    if (o.fileId !== undefined || o.nodes || o.all || o.percent !== undefined) throw new SwarmError('BAD_REQUEST', '--cancel and --status take a job id only: no file id or node choice');
    if (o.cancel !== undefined && o.status !== undefined) throw new SwarmError('BAD_REQUEST', 'give one of --cancel JOB and --status JOB');
    job = o.cancel !== undefined
      ? await ctx.rpc.request(TrackerSubjects.preheatCancel, { jobId: o.cancel }, PreheatJobSchema)
      : await ctx.rpc.request(TrackerSubjects.preheatStatus, { jobId: o.status }, PreheatJobSchema);
    if (o.cancel !== undefined) ctx.info(`preheat ${job.jobId} cancelled: nodes not started will not be; downloads already running finish`);
  } else {
    if (o.fileId === undefined) throw new SwarmError('BAD_REQUEST', 'say which file to preheat: swarmshare preheat ID (--nodes b,c | --all | --percent P)');
    const choices = [o.nodes !== undefined, o.all === true, o.percent !== undefined].filter(Boolean).length;
    if (choices !== 1) throw new SwarmError('BAD_REQUEST', 'choose the nodes with exactly one of --nodes b,c, --all and --percent P');
    const fileId = await resolveFileId(ctx, o.fileId);
    const req: PreheatStartRequest = {
      fileId,
      ...(o.nodes ? { nodes: o.nodes } : {}),
      ...(o.all ? { all: true as const } : {}),
      ...(o.percent !== undefined ? { percent: o.percent } : {}),
      concurrency: o.concurrency ?? PREHEAT_DEFAULT_CONCURRENCY,
    };
    job = await ctx.rpc.request(TrackerSubjects.preheatStart, req, PreheatJobSchema);
    ctx.info(`preheat ${job.jobId}: ${job.nodes.length} node(s), at most ${job.concurrency} at once (follow: swarmshare preheat --status ${job.jobId}; cancel: --cancel ${job.jobId})`);
  }
  if (!o.detach && o.cancel === undefined) job = await follow(ctx, job);
  if (o.json) ctx.out(JSON.stringify(job));
  else report(ctx, job);
  // A cancel reports the job as it stands; a start or --status fails if a node could not preheat.
  const failed = o.cancel === undefined ? job.nodes.filter((n) => n.state === 'failed') : [];
  if (failed.length > 0) throw new SwarmError('UNAVAILABLE', `${failed.length} node(s) could not preheat ${job.fileId.slice(0, 16)}: see their reasons above`);
}

/** Read the job until no node is queued or running, with a bar of the nodes that ended. */
async function follow(ctx: CliContext, first: PreheatJob): Promise<PreheatJob> {
  let job = first;
  const bar = countBar('preheat', 'nodes');
  let lastAnswer = Date.now();
  let lastChange = Date.now();
  let seen = '';
  try {
    for (;;) {
      const sig = JSON.stringify(job.nodes.map((n) => [n.state, n.chunksDone ?? 0, n.attempts]));
      if (sig !== seen) [seen, lastChange] = [sig, Date.now()];
      if (Date.now() - lastChange > FOLLOW_IDLE_MS) {
        throw new SwarmError('TIMEOUT', `preheat ${job.jobId} made no progress for ${FOLLOW_IDLE_MS / 1000} s; it goes on in the tracker: check it with swarmshare preheat --status ${job.jobId}, or cancel it`);
      }
      const count = (s: string) => job.nodes.filter((n) => n.state === s).length;
      const ended = job.nodes.length - count('queued') - count('running') - count('down');
      bar.update(ended, job.nodes.length, `${count('running')} running, ${count('queued')} queued, ${count('down')} down`);
      if (job.state !== 'running') return job;
      await new Promise((r) => setTimeout(r, POLL_MS));
      try {
        job = await ctx.rpc.request(TrackerSubjects.preheatStatus, { jobId: job.jobId }, PreheatJobSchema);
        lastAnswer = Date.now();
      } catch (e) {
        // A tracker restarting: the job is in Redis and goes on; keep asking for a while.
        const code = (e as { code?: string }).code;
        if ((code !== 'UNAVAILABLE' && code !== 'TIMEOUT') || Date.now() - lastAnswer > TRACKER_AWAY_MS) throw e;
      }
    }
  } finally {
    bar.stop();
  }
}

function report(ctx: CliContext, job: PreheatJob): void {
  const words: Record<string, string> = {
    done: 'done',
    held: 'already held',
    failed: 'failed',
    down: 'pending: node down, it gets the file when it comes back',
    queued: 'queued',
    running: 'running',
    cancelled: 'cancelled',
  };
  for (const n of job.nodes) ctx.info(`node ${n.nodeId}: ${words[n.state]}${n.state === 'failed' && n.error ? ` (${n.error})` : ''}`);
  ctx.info(`preheat ${job.jobId}: ${job.state}`);
  ctx.out(job.jobId);
}
