import type { DownloadStatus, PreheatJob, PreheatNode, PreheatNodeState } from '@swarmshare/common';

/** States a node leaves no more (in this job). */
export const ENDED: readonly PreheatNodeState[] = ['done', 'held', 'failed', 'cancelled'];

/**
 * A job's state from its nodes: cancelled once cancelled; running while a node is queued or running;
 * waiting while only nodes that are down are left; done when every node ended.
 */
export function jobState(cancelled: boolean, nodes: readonly PreheatNode[]): PreheatJob['state'] {
  if (cancelled) return 'cancelled';
  if (nodes.some((n) => n.state === 'queued' || n.state === 'running')) return 'running';
  if (nodes.some((n) => n.state === 'down')) return 'waiting';
  return 'done';
}

/** Whether the runner still has something to do: a node to start, follow or wait for. */
export function hasWorkLeft(cancelled: boolean, nodes: readonly PreheatNode[]): boolean {
  return nodes.some((n) => n.state === 'running' || (!cancelled && (n.state === 'queued' || n.state === 'down')));
}

/**
 * `--percent P` of the live peers, at least one: peers that do not hold the file first (they are
 * the point of a preheat), then the rest, each group in the order given (most free space first).
 */
export function choosePercent(live: readonly string[], holders: ReadonlySet<string>, percent: number): string[] {
  const count = Math.min(live.length, Math.max(1, Math.ceil((live.length * percent) / 100)));
  return [...live.filter((n) => !holders.has(n)), ...live.filter((n) => holders.has(n))].slice(0, count);
}

/** What a running node's download status means for the job. */
export type StatusOutcome =
  | { to: 'done' | 'held' }
  | { to: 'failed'; error: string }
  | { to: 'running'; progress: { chunksDone: number; chunkCount: number } };

export function statusOutcome(s: DownloadStatus): StatusOutcome {
  if (s.state === 'complete') return { to: s.alreadyHeld ? 'held' : 'done' };
  if (s.state === 'failed') return { to: 'failed', error: `${s.errorCode ? `${s.errorCode}: ` : ''}${s.error ?? 'the download failed'}` };
  return { to: 'running', progress: { chunksDone: s.chunksDone, chunkCount: s.chunkCount } };
}
