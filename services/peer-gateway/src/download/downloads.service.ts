import { DEFAULT_JOB_RETENTION, type DiscoverMode, type DownloadStatus, JobTable, type JobRetention, type Logger, SwarmError } from '@swarmshare/common';
import type { DownloadJob } from './download-job';

/** Creates the job for one file; the app module wires it to the real clients. */
export type DownloadJobFactory = (fileId: string, opts?: FetchOptions) => DownloadJob;

export interface FetchOptions {
  /** How to find holders; unset = the tracker when it answers, else iterative lookup. */
  discover?: DiscoverMode;
  /** Fetching chunks found corrupt here again: not a download (not counted, no receipts). */
  repair?: boolean;
}

/**
 * The node's downloads, by file id. `fetch` starts one, or joins the one running for that file,
 * and returns at once; a completed one is answered as "already held" (nothing moved this call), a
 * failed one is started afresh, resuming from whatever chunks the store already has (a job that
 * finds all of them says the file is already held, and counts no download). A finished download is
 * kept for its status only for a while (JobTable): forgotten, a fetch starts a job that finds the
 * file already held, as the remembered one would have said.
 */
export class DownloadsService {
  private readonly jobs: JobTable<DownloadJob>;
  /** Files whose chunks went missing while a download of them ran: fetched again when it ends. */
  private readonly again = new Set<string>();
  private closing = false;

  constructor(
    private readonly createJob: DownloadJobFactory,
    private readonly logger?: Logger,
    /** Active-transfers gauge: one per running download. */
    private readonly metrics?: { trackTransfer(direction: 'download'): () => void },
    retention: JobRetention = DEFAULT_JOB_RETENTION,
    now?: () => number,
  ) {
    this.jobs = new JobTable(retention, now);
  }

  fetch(fileId: string, opts?: FetchOptions): DownloadStatus {
    if (this.closing) throw new SwarmError('UNAVAILABLE', 'the gateway is shutting down');
    const existing = this.jobs.get(fileId);
    if (existing && (existing.status.state === 'running' || existing.status.state === 'queued')) return snapshot(existing);
    // A finished download is not replayed: this call's facts are that the node holds the file
    // (a chunk that goes missing again, being corrupt, starts a repair: see repair()), nothing
    // moved, and nothing is counted again.
    if (existing?.status.state === 'complete') {
      const { discovery: _earlier, ...held } = snapshot(existing);
      return { ...held, fromPeers: {}, alreadyHeld: true };
    }
    const job = opts ? this.createJob(fileId, opts) : this.createJob(fileId);
    this.jobs.set(fileId, job);
    this.logger?.info({ fileId }, existing ? 'download started again' : 'download started');
    const done = this.metrics?.trackTransfer('download');
    void job.start().finally(() => {
      done?.();
      const again = this.again.delete(fileId) && this.jobs.get(fileId) === job;
      this.jobs.finished(fileId, job);
      if (again) this.repair(fileId);
    });
    return snapshot(job);
  }

  /**
   * Chunks of a file went missing here (they failed a re-hash): fetch them again from the swarm. A
   * download of it running now may have counted them present already, so it runs again when it ends.
   */
  repair(fileId: string): void {
    if (this.closing) return;
    const existing = this.jobs.get(fileId);
    if (existing && (existing.status.state === 'running' || existing.status.state === 'queued')) {
      this.again.add(fileId);
      return;
    }
    this.jobs.delete(fileId);
    try {
      this.fetch(fileId, { repair: true });
    } catch (e) {
      this.logger?.warn({ fileId, err: (e as Error).message }, 'could not start the repair download');
    }
  }

  status(fileId: string): DownloadStatus {
    const job = this.jobs.get(fileId);
    if (!job) throw new SwarmError('NOT_FOUND', `no download of ${fileId.slice(0, 12)} on this node: start one with fetch`);
    return snapshot(job);
  }

  /** File ids with a download running or queued. */
  activeFileIds(): string[] {
    return this.jobs.values().filter((j) => j.status.state === 'running' || j.status.state === 'queued').map((j) => j.fileId);
  }

  get active(): number {
    return this.jobs.values().filter((j) => j.status.state === 'running' || j.status.state === 'queued').length;
  }

  /**
   * The file is being deleted from this node: its running download stops with CANCELLED (write
   * leases given back before this resolves); its status says so, and a later fetch starts afresh (a
   * complete one is forgotten: the node no longer holds the file). Returns whether one was running.
   */
  async cancelFile(fileId: string, reason: string): Promise<boolean> {
    const job = this.jobs.get(fileId);
    if (!job) return false;
    const running = job.status.state === 'running' || job.status.state === 'queued';
    if (running) await job.cancel(reason, 'CANCELLED');
    else if (job.status.state === 'complete') this.jobs.delete(fileId);
    return running;
  }

  /** Shutdown: stop every running job; their write leases are given back before this resolves. */
  async stopAll(reason: string): Promise<void> {
    this.closing = true;
    await Promise.all(this.jobs.values().filter((j) => j.status.state === 'running' || j.status.state === 'queued').map((j) => j.cancel(reason)));
  }
}

function snapshot(job: DownloadJob): DownloadStatus {
  return { ...job.status, fromPeers: { ...job.status.fromPeers } };
}
