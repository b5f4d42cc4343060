import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A free TCP port on loopback (the OS picks it; a race with another process is possible but rare). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export async function waitForPort(port: number, host = '127.0.0.1', timeoutMs = 15000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = connect(port, host);
      c.once('connect', () => {
        c.destroy();
        resolve(true);
      });
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function findBinary(name: string): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/bin', '/usr/local/bin']) {
    const p = join(dir, name);
    if (dir && existsSync(p)) return p;
  }
  return undefined;
}

export interface LocalServer {
  name: 'nats-server' | 'redis-server';
  url: string;
  port: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

function stopper(proc: ChildProcess, cleanup?: () => void): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        cleanup?.();
        return resolve();
      }
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      proc.once('exit', () => {
        clearTimeout(t);
        cleanup?.();
        resolve();
      });
      proc.kill('SIGTERM');
    });
}

/** nats-server with JetStream on a free loopback port; state kept in storeDir (a temp dir if none). */
export async function startNatsServer(port?: number, storeDir?: string): Promise<LocalServer> {
  const bin = findBinary('nats-server');
  if (!bin) throw new Error('nats-server is not installed: run `bash scripts/setup.sh` (apt-get install -y nats-server) or set NATS_URL');
  const p = port ?? (await freePort());
  const dir = storeDir ?? mkdtempSync(join(tmpdir(), 'ss-nats-'));
  const proc = spawn(bin, ['-a', '127.0.0.1', '-p', String(p), '-js', '-sd', dir], { stdio: 'ignore' });
  await waitForPort(p);
  const cleanup = storeDir ? undefined : () => rmSync(dir, { recursive: true, force: true });
  return { name: 'nats-server', url: `nats://127.0.0.1:${p}`, port: p, process: proc, stop: stopper(proc, cleanup) };
}

/** redis-server on a free loopback port; with dataDir it keeps an append-only file there, else nothing on disk. */
export async function startRedisServer(port?: number, dataDir?: string): Promise<LocalServer> {
  const bin = findBinary('redis-server');
  if (!bin) throw new Error('redis-server is not installed: run `bash scripts/setup.sh` (apt-get install -y redis-server) or set REDIS_URL');
  const p = port ?? (await freePort());
  const persistence = dataDir ? ['--dir', dataDir, '--appendonly', 'yes', '--save', ''] : ['--save', '', '--appendonly', 'no'];
  const proc = spawn(bin, ['--port', String(p), '--bind', '127.0.0.1', ...persistence], { stdio: 'ignore' });
  await waitForPort(p);
  return { name: 'redis-server', url: `redis://127.0.0.1:${p}`, port: p, process: proc, stop: stopper(proc) };
}
