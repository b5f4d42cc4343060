/**
 * A token bucket for bandwidth limits: `rate` bytes per second refill a bucket of `burst` bytes.
 * take(n) resolves once n bytes may go; callers queue in order, so a large take cannot be starved
 * by small ones. A rate of 0 means unlimited (the default: limits are off unless configured).
 * A take larger than the burst is allowed: it drives the bucket into debt, which later takes repay,
 * so the long-run rate still holds for chunks bigger than the burst.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly queue: { n: number; resolve(): void }[] = [];
  private timer?: NodeJS.Timeout;

  constructor(
    readonly rate: number,
    readonly burst: number = rate,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!Number.isFinite(rate) || rate < 0) throw new RangeError(`token bucket rate must be a number >= 0 bytes/s, got ${rate}`);
    if (rate > 0 && (!Number.isFinite(burst) || burst <= 0)) throw new RangeError(`token bucket burst must be > 0 bytes, got ${burst}`);
    this.tokens = burst;
    this.last = this.now();
  }

  get unlimited(): boolean {
    return this.rate === 0;
  }

  /** Tokens available now (negative while in debt). */
  available(): number {
    this.refill();
    return this.tokens;
  }

  /** Milliseconds until `n` bytes could go if nobody else were waiting; 0 = now. Takes nothing. */
  delayFor(n: number): number {
    if (this.unlimited) return 0;
    this.refill();
    const need = Math.min(n, this.burst);
    return this.tokens >= need ? 0 : ((need - this.tokens) / this.rate) * 1000;
  }

  /** Wait until `n` bytes may be sent or received, then spend them. */
  take(n: number): Promise<void> {
    if (this.unlimited || n <= 0) return Promise.resolve();
    if (this.queue.length === 0 && this.delayFor(n) === 0) {
      this.tokens -= n;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.queue.push({ n, resolve });
      this.schedule();
    });
  }

  /** Drop waiters (shutdown); they are resolved so nothing hangs. */
  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const w of this.queue.splice(0)) w.resolve();
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.rate);
    this.last = t;
  }

  private schedule(): void {
    if (this.timer) return;
    while (this.queue.length > 0) {
      const head = this.queue[0];
      const wait = this.delayFor(head.n);
      if (wait > 0) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.schedule();
        }, Math.max(1, Math.ceil(wait)));
        return;
      }
      this.queue.shift();
      this.tokens -= head.n;
      head.resolve();
    }
  }
}

/** The bucket for a configured limit (bytes/s): undefined when off (0); burst = 100 ms of rate, at least 64 KiB. */
export function limiterFor(rate: number): TokenBucket | undefined {
  return rate > 0 ? new TokenBucket(rate, Math.max(64 * 1024, rate / 10)) : undefined;
}
