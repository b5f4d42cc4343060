import { type JobRetention, SwarmError } from '@swarmshare/common';
import { DownloadJob } from './download-job';
import { DownloadsService } from './downloads.service';

const FILE = 'ab'.repeat(32);

/** Jobs whose tracker answers NOT_FOUND until `known` is set, then hangs (a download in progress). */
function service(retention?: JobRetention, now?: () => number) {
  let known = false;
  let created = 0;
  const svc = new DownloadsService((fileId) => {
    created++;
    return new DownloadJob(fileId, {
      nodeId: 'n1',
      tracker: {
        getFile: () => (known ? new Promise(() => undefined) : Promise.reject(new SwarmError('NOT_FOUND', 'not registered'))),
        downloadStarted: async () => undefined,
        downloadCompleted: async () => undefined,
        downloadStopped: async () => undefined,
        peerUnreachable: async () => undefined,
      },
      store: { create: async () => ({}) as never, have: async () => ({}) as never },
      regions: { openWrite: async () => ({}) as never },
      connect: async () => ({}) as never,
      onProgress: () => undefined,
      pipelineDepth: 1,
      maxPeers: 1,
    });
  }, undefined, undefined, retention, now);
  return { svc, created: () => created, know: () => (known = true) };
}

describe('DownloadsService', () => {
  it('status is NOT_FOUND before any fetch', () => {
    expect(() => service().svc.status(FILE)).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
  });

  it('fetch returns at once; a second fetch joins; a failed one is started afresh', async () => {
    const { svc, created, know } = service();
    expect(svc.fetch(FILE).state).toBe('running');
    await new Promise((r) => setImmediate(r));
    expect(svc.status(FILE)).toMatchObject({ state: 'failed', error: 'not registered' });
    know();
    expect(svc.fetch(FILE).state).toBe('running');
    expect(created()).toBe(2);
    expect(svc.fetch(FILE).state).toBe('running');
    expect(created()).toBe(2); // joined
    expect(svc.active).toBe(1);
  });

  it('stopAll cancels running jobs and refuses new fetches', async () => {
    const { svc, know } = service();
    know();
    svc.fetch(FILE);
    await svc.stopAll('shutting down');
    expect(svc.status(FILE)).toMatchObject({ state: 'failed', error: 'shutting down' });
    expect(() => svc.fetch(FILE)).toThrow(expect.objectContaining({ code: 'UNAVAILABLE' }));
  });

  it('forgets a finished download after FINISHED_JOB_TTL_MS, and past FINISHED_JOBS_KEPT (injected clock); a running one is kept', async () => {
    let t = 0;
    const { svc, know } = service({ maxFinished: 2, ttlMs: 60_000 }, () => t);
    const ids = ['01', '02', '03'].map((x) => x.repeat(32));
    for (const id of ids) svc.fetch(id);
    await new Promise((r) => setImmediate(r));
    // Three failed; two are kept, the first to finish is forgotten.
    expect(() => svc.status(ids[0])).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
    expect(svc.status(ids[1]).state).toBe('failed');
    expect(svc.status(ids[2]).state).toBe('failed');
    know();
    svc.fetch(FILE); // runs (the tracker hangs) for as long as the test lasts
    t += 59_999;
    expect(svc.status(ids[2]).state).toBe('failed'); // a recent one still answers
    t += 1;
    expect(() => svc.status(ids[1])).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
    expect(() => svc.status(ids[2])).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
    expect(svc.status(FILE).state).toBe('running');
    expect(svc.activeFileIds()).toEqual([FILE]);
    await svc.stopAll('done');
  });
});
