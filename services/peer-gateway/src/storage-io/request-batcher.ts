import { type ManyReply, SwarmError } from '@swarmshare/common';

interface Waiting<Q, R> {
  req: Q;
  resolve(reply: R): void;
  reject(err: unknown): void;
}

/**
 * A fetcher takes one write lease and closes it for every chunk, hundreds a second; each was a NATS
 * request through the store's whole request pipeline, and that per-request cost was most of the
 * store's CPU. Requests are batched the way the store batches fsyncs: at most `maxInFlight`
 * requests on their way, and those made meanwhile go together in the next one (a `*.many`
 * subject). A lone request goes at once, on the plain subject, so an idle node adds no latency.
 *
 * Each request still gets its own verdict; a batch that fails as a whole (timeout, store gone)
 * fails every request in it with that error, as it would have failed each of them alone.
 */
export class RequestBatcher<Q, R> {
  private readonly queue: Array<Waiting<Q, R>> = [];
  private inFlight = 0;

  constructor(
    private readonly sendOne: (req: Q) => Promise<R>,
    private readonly sendMany: (reqs: Q[]) => Promise<ManyReply<R>>,
    private readonly maxPerRequest: number,
    private readonly maxInFlight = 2,
  ) {}

  request(req: Q): Promise<R> {
    return new Promise((resolve, reject) => {
      this.queue.push({ req, resolve, reject });
      this.pump();
    });
  }

  /** Requests waiting for a slot (for tests and metrics). */
  get queued(): number {
    return this.queue.length;
  }

  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxPerRequest);
      this.inFlight++;
      void this.send(batch).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async send(batch: Array<Waiting<Q, R>>): Promise<void> {
    if (batch.length === 1) {
      const [one] = batch;
      await this.sendOne(one.req).then(one.resolve, one.reject);
      return;
    }
    let reply: ManyReply<R>;
    try {
      reply = await this.sendMany(batch.map((w) => w.req));
    } catch (err) {
      for (const w of batch) w.reject(err);
      return;
    }
    if (reply.results.length !== batch.length) {
      const err = new SwarmError('PROTOCOL', `the store answered ${reply.results.length} verdicts for ${batch.length} requests`);
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
