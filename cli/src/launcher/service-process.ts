import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export type ServiceName = 'tracker' | 'chunk-store' | 'peer-gateway';
/** Repo root: the same depth from cli/src/launcher (ts) and cli/dist/launcher (js). */
export const REPO_ROOT = join(__dirname, '..', '..', '..');

export function serviceScript(name: ServiceName): string {
  return join(REPO_ROOT, 'services', name, 'dist', 'main.js');
}

export interface LogLine {
  level?: number;
  msg?: string;
  event?: string;
  [k: string]: unknown;
}

/** A service running from its built dist/main.js, exactly as in production. */
export class RunningService {
  readonly logs: LogLine[] = [];
  readonly stderr: string[] = [];
  private waiters: Array<{ pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly name: ServiceName,
    readonly proc: ChildProcess,
    logFile?: WriteStream,
  ) {
    if (logFile) {
      proc.stdout!.pipe(logFile, { end: false });
      proc.stderr!.pipe(logFile, { end: false });
      proc.once('exit', () => logFile.end());
    }
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      let parsed: LogLine;
      try {
        parsed = JSON.parse(line);
      } catch {
        parsed = { msg: line };
      }
      this.logs.push(parsed);
      this.waiters = this.waiters.filter((w) => (w.pred(parsed) ? (w.resolve(parsed), false) : true));
      if (process.env.SERVICE_LOGS) process.stdout.write(`[${name}] ${line}\n`);
    });
    createInterface({ input: proc.stderr! }).on('line', (line) => {
      this.stderr.push(line);
      if (process.env.SERVICE_LOGS) process.stderr.write(`[${name}!] ${line}\n`);
    });
    this.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  }

  waitForLog(pred: (l: LogLine) => boolean, timeoutMs = 20000): Promise<LogLine> {
    const found = this.logs.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${this.name}: no matching log line within ${timeoutMs} ms; stderr: ${this.stderr.join('\n')}`)), timeoutMs);
      this.waiters.push({
        pred,
        resolve: (l) => {
          clearTimeout(t);
          resolve(l);
        },
      });
      void this.exited.then(({ code, signal }) => {
        clearTimeout(t);
        reject(new Error(`${this.name} exited (code ${code}, signal ${signal}) before the expected log line; stderr: ${this.stderr.join('\n')}`));
      });
    });
  }

  /** SIGTERM (graceful) or SIGKILL (crash); resolves when the process is gone. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10000): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const t = setTimeout(() => this.proc.kill('SIGKILL'), timeoutMs);
    this.proc.kill(signal);
    await this.exited;
    clearTimeout(t);
  }
}

/**
 * Start a built service (dist/main.js, as in production) with exactly the given environment and
 * wait for its ready log line. With logPath, its output is also appended to that file.
 */
export async function startService(name: ServiceName, env: Record<string, string>, opts: { waitReady?: boolean; logPath?: string; readyTimeoutMs?: number; prefix?: string[] } = {}): Promise<RunningService> {
  // A prefix that execs its argument (`ip netns exec NS`) keeps the pid the service's own.
  const argv = [...(opts.prefix ?? []), process.execPath, '--expose-gc', serviceScript(name)];
  const proc = spawn(argv[0], argv.slice(1), {
    env: { PATH: process.env.PATH, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const svc = new RunningService(name, proc, opts.logPath ? createWriteStream(opts.logPath, { flags: 'a' }) : undefined);
  if (opts.waitReady !== false) {
    try {
      await svc.waitForLog((l) => l.event === 'ready', opts.readyTimeoutMs);
    } catch (e) {
      // Never leave behind a process that did not become ready: nobody would know to stop it.
      await svc.stop('SIGKILL');
      throw e;
    }
  }
  return svc;
}
