import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type NatsServerTls, type NatsUser, natsServerConfig, type RedisUser, redisAclFile } from '@swarmshare/common';

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
  /** With users: nats-server's config file, or redis-server's ACL file (owner-only; rewrite and reload to add users). */
  authFile?: string;
  stop(): Promise<void>;
  /** Start the server again after it died, exactly as before (same port, state, users and TLS). */
  respawn?(): Promise<LocalServer>;
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

/** Users (and TLS) of a server the launcher starts; without them the server takes anyone (tests only). */
export interface NatsAuth {
  users: NatsUser[];
  tls?: NatsServerTls;
}

/**
 * nats-server with JetStream on a free loopback port; state kept in storeDir (a temp dir if none).
 * With `auth`, its configuration (users and their permissions) is written to `<storeDir>/nats.conf`,
 * owner-only, and every connection must log in.
 */
export async function startNatsServer(port?: number, storeDir?: string, auth?: NatsAuth): Promise<LocalServer> {
  const bin = findBinary('nats-server');
  if (!bin) throw new Error('nats-server is not installed: run `bash scripts/setup.sh` (apt-get install -y nats-server) or set NATS_URL');
  const p = port ?? (await freePort());
  const dir = storeDir ?? mkdtempSync(join(tmpdir(), 'ss-nats-'));
  let args = ['-a', '127.0.0.1', '-p', String(p), '-js', '-sd', dir];
  const conf = auth ? join(dir, 'nats.conf') : undefined;
  if (auth && conf) {
    writeFileSync(conf, natsServerConfig({ host: '127.0.0.1', port: p, storeDir: dir, users: auth.users, tls: auth.tls }), { mode: 0o600 });
    args = ['-c', conf];
  }
  const cleanup = storeDir ? undefined : () => rmSync(dir, { recursive: true, force: true });
  const scheme = auth?.tls ? 'tls' : 'nats';
  const run = async (): Promise<LocalServer> => {
    const proc = spawn(bin, args, { stdio: 'ignore' });
    await waitForPort(p);
    return { name: 'nats-server', url: `${scheme}://127.0.0.1:${p}`, port: p, process: proc, authFile: conf, stop: stopper(proc, cleanup), respawn: run };
  };
  return run();
}

export interface RedisAuth {
  users: RedisUser[];
  /** Where the ACL file goes (owner-only). */
  aclDir: string;
  /** TLS only (`--port 0 --tls-port`): the server's certificate, key and the CA clients present certificates of (none asked). */
  tls?: { certFile: string; keyFile: string; caFile: string };
}

/**
 * redis-server on a free loopback port; with dataDir it keeps an append-only file there, else nothing
 * on disk. With `auth`, its users come from an ACL file and the default user is off.
 */
export async function startRedisServer(port?: number, dataDir?: string, auth?: RedisAuth): Promise<LocalServer> {
  const bin = findBinary('redis-server');
  if (!bin) throw new Error('redis-server is not installed: run `bash scripts/setup.sh` (apt-get install -y redis-server) or set REDIS_URL');
  const p = port ?? (await freePort());
  const persistence = dataDir ? ['--dir', dataDir, '--appendonly', 'yes', '--save', ''] : ['--save', '', '--appendonly', 'no'];
  const security: string[] = [];
  const acl = auth ? join(auth.aclDir, 'users.acl') : undefined;
  if (auth && acl) {
    writeFileSync(acl, redisAclFile(auth.users), { mode: 0o600 });
    security.push('--aclfile', acl);
    if (auth.tls) {
      const { certFile, keyFile, caFile } = auth.tls;
      security.push('--port', '0', '--tls-port', String(p), '--tls-cert-file', certFile, '--tls-key-file', keyFile, '--tls-ca-cert-file', caFile, '--tls-auth-clients', 'no');
    }
  }
  const proc = spawn(bin, ['--port', String(p), '--bind', '127.0.0.1', ...persistence, ...security], { stdio: 'ignore' });
  await waitForPort(p);
  const scheme = auth?.tls ? 'rediss' : 'redis';
  return { name: 'redis-server', url: `${scheme}://127.0.0.1:${p}`, port: p, process: proc, authFile: acl, stop: stopper(proc) };
}
