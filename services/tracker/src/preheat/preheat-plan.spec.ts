import type { DownloadStatus, PreheatNode } from '@swarmshare/common';
import { choosePercent, hasWorkLeft, jobState, statusOutcome } from './preheat-plan';

const node = (nodeId: string, state: PreheatNode['state']): PreheatNode => ({ nodeId, state, attempts: 0 });
const status = (s: Partial<DownloadStatus>): DownloadStatus => ({ fileId: 'f'.repeat(64), state: 'running', chunkCount: 8, chunksDone: 3, bytesDone: 0, size: 0, fromPeers: {}, ...s });

describe('preheat plan', () => {
  it('derives the job state from its nodes', () => {
    expect(jobState(false, [node('a', 'done'), node('b', 'queued')])).toBe('running');
    expect(jobState(false, [node('a', 'done'), node('b', 'running')])).toBe('running');
    expect(jobState(false, [node('a', 'done'), node('b', 'down')])).toBe('waiting');
    expect(jobState(false, [node('a', 'done'), node('b', 'failed'), node('c', 'held')])).toBe('done');
    expect(jobState(true, [node('a', 'running')])).toBe('cancelled');
  });

  it('has work left while a node runs, or (not cancelled) waits for a slot or to come back', () => {
    expect(hasWorkLeft(false, [node('a', 'down')])).toBe(true);
    expect(hasWorkLeft(true, [node('a', 'down'), node('b', 'queued')])).toBe(false);
    expect(hasWorkLeft(true, [node('a', 'running')])).toBe(true);
    expect(hasWorkLeft(false, [node('a', 'done'), node('b', 'cancelled')])).toBe(false);
  });

  it('chooses a percentage of the live peers, non-holders first, at least one', () => {
    const live = ['a', 'b', 'c', 'd', 'e'];
    expect(choosePercent(live, new Set(['a']), 40)).toEqual(['b', 'c']);
    expect(choosePercent(live, new Set(['b', 'c', 'd', 'e']), 50)).toEqual(['a', 'b', 'c']);
    expect(choosePercent(live, new Set(), 1)).toEqual(['a']);
    expect(choosePercent(live, new Set(), 100)).toEqual(live);
    expect(choosePercent([], new Set(), 100)).toEqual([]);
  });

  it('reads a download status as done, held, failed with its reason, or running with progress', () => {
    expect(statusOutcome(status({ state: 'complete' }))).toEqual({ to: 'done' });
    expect(statusOutcome(status({ state: 'complete', alreadyHeld: true }))).toEqual({ to: 'held' });
    expect(statusOutcome(status({ state: 'failed', error: 'no room', errorCode: 'NO_SPACE' }))).toEqual({ to: 'failed', error: 'NO_SPACE: no room' });
    expect(statusOutcome(status({ state: 'queued', chunksDone: 0 }))).toEqual({ to: 'running', progress: { chunksDone: 0, chunkCount: 8 } });
  });
});
