import { z } from 'zod';
import { FileIdSchema, NodeIdSchema } from './schemas';

/**
 * Preheat jobs (issue 14): the tracker makes chosen nodes download a file in advance, at most
 * `concurrency` at once. The job lives in Redis, so any tracker resumes it (docs/operations.md, "Preheat").
 */

/** Downloads one job runs at once when the caller does not say. */
export const PREHEAT_DEFAULT_CONCURRENCY = 4;
/** The most downloads one job may run at once. */
export const PREHEAT_MAX_CONCURRENCY = 64;
/** The most nodes one job may name (a bound on the job's record and on each step's work). */
export const PREHEAT_MAX_NODES = 1000;

export const PreheatJobIdSchema = z.string().regex(/^ph-[0-9a-f]{16}$/, 'a preheat job id looks like ph- followed by 16 hex digits');

/** Exactly one way of choosing the nodes: a list, every live peer, or a share of the live peers. */
export const PreheatStartRequestSchema = z
  .object({
    fileId: FileIdSchema,
    nodes: z.array(NodeIdSchema).min(1).max(PREHEAT_MAX_NODES).optional(),
    all: z.literal(true).optional(),
    percent: z.number().gt(0).max(100).optional(),
    concurrency: z.number().int().min(1).max(PREHEAT_MAX_CONCURRENCY).default(PREHEAT_DEFAULT_CONCURRENCY),
  })
  .strict()
  .refine((r) => [r.nodes !== undefined, r.all === true, r.percent !== undefined].filter(Boolean).length === 1, {
    message: 'give exactly one of nodes, all: true and percent',
  });
export type PreheatStartRequest = z.input<typeof PreheatStartRequestSchema>;

export const PreheatJobRequestSchema = z.object({ jobId: PreheatJobIdSchema }).strict();

/**
 * One node's part of a job. queued: waits for a slot. running: asked to download. down: did not
 * answer (or is not a live peer); it is queued again when it announces. done: downloaded it.
 * held: held the whole file already. failed: its download failed (see error). cancelled: the job was
 * cancelled before it started.
 */
export const PreheatNodeStateSchema = z.enum(['queued', 'running', 'down', 'done', 'held', 'failed', 'cancelled']);
export type PreheatNodeState = z.infer<typeof PreheatNodeStateSchema>;

export const PreheatNodeSchema = z.object({
  nodeId: NodeIdSchema,
  state: PreheatNodeStateSchema,
  error: z.string().optional(),
  /** The job's step counter when the node was started and when it ended: orders starts and ends exactly. */
  startSeq: z.number().int().min(0).optional(),
  endSeq: z.number().int().min(0).optional(),
  /** Downloads started on it by this job (a node that came back is asked again). */
  attempts: z.number().int().min(0).default(0),
  chunksDone: z.number().int().min(0).optional(),
  chunkCount: z.number().int().min(0).optional(),
});
export type PreheatNode = z.infer<typeof PreheatNodeSchema>;

/**
 * running: nodes are queued or downloading. waiting: only nodes that are down are left (they get the
 * file when they come back, until PREHEAT_DOWN_WAIT_MS). done: every node ended. cancelled: no new
 * download starts (running ones finish on their nodes).
 */
export const PreheatJobStateSchema = z.enum(['running', 'waiting', 'done', 'cancelled']);

export const PreheatJobSchema = z.object({
  jobId: PreheatJobIdSchema,
  fileId: FileIdSchema,
  concurrency: z.number().int().min(1),
  state: PreheatJobStateSchema,
  createdAt: z.number().int(),
  updatedAt: z.number().int(),
  /** The most nodes this job ever had running at once (never above concurrency). */
  peakRunning: z.number().int().min(0),
  /** The tracker that holds the job's lease now, if any. */
  owner: z.string().optional(),
  nodes: z.array(PreheatNodeSchema),
});
export type PreheatJob = z.infer<typeof PreheatJobSchema>;
