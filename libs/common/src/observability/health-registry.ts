import { Injectable } from '@nestjs/common';

/**
 * A readiness check: resolve (with optional details) when healthy; throw, reject or return `false`
 * when not. A check that takes longer than its timeout counts as failed.
 */
export type HealthCheckFn = () => unknown | Promise<unknown>;

export interface HealthCheckOptions {
  /** Default 3000 ms. */
  timeoutMs?: number;
}

export interface CheckResult {
  status: 'up' | 'down';
  durationMs: number;
  /** What the check returned, when it returned something other than undefined/true. */
  detail?: unknown;
  /** Why it failed. */
  error?: string;
}

export interface ReadinessReport {
  status: 'ready' | 'unready';
  checks: Record<string, CheckResult>;
  /** Names of the failing checks (empty when ready). */
  failing: string[];
}

export const DEFAULT_CHECK_TIMEOUT_MS = 3000;
/** The pseudo-check that fails once shutdown has begun. */
export const SHUTDOWN_CHECK = 'shutdown';

/**
 * The readiness checks of one process. runService provides one instance as a global Nest provider,
 * so any service class can inject it and register its own named checks:
 *
 *   constructor(health: HealthRegistry, redis: RedisRepository) {
 *     health.register('redis', () => redis.ping());
 *   }
 *
 * `/readyz` runs every check in parallel and answers 200 when all pass, 503 naming the failing ones.
 */
@Injectable()
export class HealthRegistry {
  private readonly checks = new Map<string, { fn: HealthCheckFn; timeoutMs: number }>();
  private shuttingDown = false;

  /** Add (or replace) a named check; returns a function that removes it. */
  register(name: string, fn: HealthCheckFn, opts: HealthCheckOptions = {}): () => void {
    if (!/^[a-z0-9][a-z0-9_.-]{0,62}$/.test(name)) throw new Error(`health check name ${JSON.stringify(name)} must be 1-63 chars of a-z, 0-9, ".", "_" or "-"`);
    if (name === SHUTDOWN_CHECK) throw new Error(`"${SHUTDOWN_CHECK}" is reserved`);
    const entry = { fn, timeoutMs: opts.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS };
    this.checks.set(name, entry);
    return () => {
      if (this.checks.get(name) === entry) this.checks.delete(name);
    };
  }

  /** Register only when no check of that name exists yet (how runService adds its defaults). */
  registerIfAbsent(name: string, fn: HealthCheckFn, opts: HealthCheckOptions = {}): boolean {
    if (this.checks.has(name)) return false;
    this.register(name, fn, opts);
    return true;
  }

  unregister(name: string): void {
    this.checks.delete(name);
  }

  has(name: string): boolean {
    return this.checks.has(name);
  }

  names(): string[] {
    return [...this.checks.keys()].sort();
  }

  /** From now on the process reports unready (it is shutting down and takes no new work). */
  markShuttingDown(): void {
    this.shuttingDown = true;
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /** Run one check with its timeout. */
  async runCheck(name: string): Promise<CheckResult> {
    const entry = this.checks.get(name);
    if (!entry) throw new Error(`no health check named ${name}`);
    return runWithTimeout(entry.fn, entry.timeoutMs);
  }

  /** Run every check in parallel. */
  async report(): Promise<ReadinessReport> {
    const names = this.names();
    const results = await Promise.all(names.map((n) => this.runCheck(n)));
    const checks: Record<string, CheckResult> = {};
    names.forEach((n, i) => (checks[n] = results[i]));
    if (this.shuttingDown) checks[SHUTDOWN_CHECK] = { status: 'down', durationMs: 0, error: 'the service is shutting down' };
    const failing = Object.keys(checks).filter((n) => checks[n].status === 'down');
    return { status: failing.length === 0 ? 'ready' : 'unready', checks, failing };
  }
}

async function runWithTimeout(fn: HealthCheckFn, timeoutMs: number): Promise<CheckResult> {
  const started = process.hrtime.bigint();
  const elapsed = () => Number((process.hrtime.bigint() - started) / 1000n) / 1000;
  let timer: NodeJS.Timeout | undefined;
  try {
    const value = await Promise.race([
      Promise.resolve().then(fn),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    if (value === false) return { status: 'down', durationMs: elapsed(), error: 'check returned false' };
    const result: CheckResult = { status: 'up', durationMs: elapsed() };
    if (value !== undefined && value !== true) result.detail = value;
    return result;
  } catch (e) {
    return { status: 'down', durationMs: elapsed(), error: e instanceof Error ? e.message : String(e) };
  } finally {
    clearTimeout(timer);
  }
}
