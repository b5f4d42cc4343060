import type { DownloadStatus } from '@swarmshare/common';
import { ProgressThrottle } from './progress-throttle';

const st = (chunksDone: number, state: DownloadStatus['state'] = 'running'): DownloadStatus => ({ fileId: 'a'.repeat(64), state, chunkCount: 100, chunksDone, bytesDone: 0, size: 0, fromPeers: {} });

describe('ProgressThrottle', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('publishes at most one event per interval, the latest state, and the final one at once', () => {
    const out: DownloadStatus[] = [];
    const t = new ProgressThrottle((s) => out.push(s), 250, () => Date.now());
    t.update(st(1), false); // first: at once
    for (let i = 2; i <= 50; i++) t.update(st(i), false);
    expect(out.map((s) => s.chunksDone)).toEqual([1]);
    jest.advanceTimersByTime(250);
    expect(out.map((s) => s.chunksDone)).toEqual([1, 50]); // trailing event carries the latest
    t.update(st(60), false);
    t.update(st(100, 'complete'), true); // final: not throttled
    expect(out.map((s) => s.chunksDone)).toEqual([1, 50, 100]);
    jest.advanceTimersByTime(1000);
    expect(out).toHaveLength(3); // the pending 60 was superseded by the final one
  });
});
