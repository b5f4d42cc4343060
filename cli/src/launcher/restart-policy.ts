/**
 * When to restart a service that died, and when to stop trying: exponential backoff between
 * restarts, and a crash-loop limit (too many restarts inside a sliding window). Pure logic with an
 * injected clock, so the rules are unit-tested without waiting.
 */
export interface RestartPolicyOptions {
  /** Delay before the first restart after a quiet period. */
  initialDelayMs: number;
  /** Cap of the doubling delay. */
  maxDelayMs: number;
  /** Restarts allowed inside `windowMs`; one more is a crash loop. */
  maxRestarts: number;
  windowMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicyOptions = { initialDelayMs: 250, maxDelayMs: 8000, maxRestarts: 5, windowMs: 60_000 };

export type RestartDecision = { action: 'restart'; delayMs: number; attempt: number } | { action: 'give-up'; restarts: number; windowMs: number };

export class RestartPolicy {
  /** When each recent restart was decided (inside the window). */
  private restarts: number[] = [];

  constructor(
    private readonly opts: RestartPolicyOptions = DEFAULT_RESTART_POLICY,
    private readonly now: () => number = Date.now,
  ) {}

  /** The service just exited unexpectedly: restart it (after a delay) or give up. */
  onExit(): RestartDecision {
    const t = this.now();
    this.restarts = this.restarts.filter((at) => t - at < this.opts.windowMs);
    if (this.restarts.length >= this.opts.maxRestarts) return { action: 'give-up', restarts: this.restarts.length, windowMs: this.opts.windowMs };
    const delayMs = Math.min(this.opts.maxDelayMs, this.opts.initialDelayMs * 2 ** this.restarts.length);
    this.restarts.push(t);
    return { action: 'restart', delayMs, attempt: this.restarts.length };
  }
}
