import { type CloseManyReply, type CloseReply, type CloseRequest, MAX_CLOSES_PER_REQUEST, SwarmError } from '@swarmshare/common';

interface Waiting {
  req: CloseRequest;
  resolve(reply: CloseReply): void;
  reject(err: unknown): void;
}

/**
 * A fetcher closes one lease per chunk, hundreds a second; each close was a NATS request through
 * the store's whole request pipeline, and that per-request cost was most of the store's CPU. Closes
 * are batched the way the store batches fsyncs: at most `maxInFlight` requests on their way, and
 * closes made meanwhile go together in the next one (`close.many`). A lone close goes at once, on
 * the plain `close` subject, so an idle node adds no latency.
 *
 * Each close still gets its own verdict; a request that fails as a whole (timeout, store gone)
 * fails every close in it with that error, as it would have failed each of them alone.
 */
export class CloseBatcher {
  private readonly queue: Waiting[] = [];
  private inFlight = 0;

  constructor(
    private readonly sendOne: (req: CloseRequest) => Promise<CloseReply>,
    private readonly sendMany: (reqs: CloseRequest[]) => Promise<CloseManyReply>,
    private readonly maxInFlight = 2,
  ) {}

  close(req: CloseRequest): Promise<CloseReply> {
    return new Promise((resolve, reject) => {
      this.queue.push({ req, resolve, reject });
      this.pump();
    });
  }

  /** Closes waiting for a request slot (for tests and metrics). */
  get queued(): number {
    return this.queue.length;
  }

  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
      const batch = this.queue.splice(0, MAX_CLOSES_PER_REQUEST);
      this.inFlight++;
      void this.send(batch).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async send(batch: Waiting[]): Promise<void> {
    if (batch.length === 1) {
      const [one] = batch;
      await this.sendOne(one.req).then(one.resolve, one.reject);
      return;
    }
    let reply: CloseManyReply;
    try {
      reply = await this.sendMany(batch.map((w) => w.req));
    } catch (err) {
      for (const w of batch) w.reject(err);
      return;
    }
    if (reply.results.length !== batch.length) {
      const err = new SwarmError('PROTOCOL', `the store answered ${reply.results.length} verdicts for ${batch.length} closes`);
      for (const w of batch) w.reject(err);
      return;
    }
    batch.forEach((w, i) => {
      const r = reply.results[i];
      if (r.ok) w.resolve(r.result);
      else w.reject(SwarmError.from(r.error));
    });
  }
}
