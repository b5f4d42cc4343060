import { randomBytes } from 'node:crypto';
import { readFile, stat, unlink, open } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import type Redis from 'ioredis';
import { createRedis, redactUrl } from '../redis-client';

/**
 * Ready-made readiness checks. runService registers them from the service's config keys (REDIS_URL,
 * DATA_DIR, PEER_PORT) unless the service registered a check of the same name itself.
 */

export interface ClosableCheck {
  check: () => Promise<unknown>;
  close: () => Promise<void>;
}

/**
 * PING over a dedicated, small Redis connection that reconnects on its own. The connection is made
 * on the first check (so a default that a service replaces before any probe never connects). While
 * Redis is away the check fails at once (no offline queue), and passes again as soon as Redis answers.
 */
export function redisPingCheck(url: string, caFile?: string, commandTimeoutMs?: number): ClosableCheck {
  let lastError: string | undefined;
  let client: Redis | undefined;
  let closed = false;
  const open = (): Redis => {
    const c = createRedis(url, {
      caFile,
      commandTimeoutMs,
      ioredis: {
        connectionName: 'swarmshare-readyz',
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        connectTimeout: 2000,
        retryStrategy: (times) => Math.min(times * 100, 1000),
      },
    });
    c.on('error', (e: Error) => (lastError = e.message));
    c.on('ready', () => (lastError = undefined));
    return c;
  };
  const waitReady = (c: Redis, ms: number) =>
    new Promise<void>((resolve) => {
      if (c.status === 'ready') return resolve();
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        c.off('ready', done);
        c.off('end', done);
        resolve();
      }
      c.once('ready', done);
      c.once('end', done);
    });
  return {
    check: async () => {
      if (closed) throw new Error('redis check closed');
      if (!client) {
        client = open();
        await waitReady(client, 1500);
      }
      if (client.status !== 'ready') throw new Error(`redis is not connected (${client.status}${lastError ? `: ${lastError}` : ''})`);
      const reply = await client.ping();
      if (reply !== 'PONG') throw new Error(`redis answered ${JSON.stringify(reply)} to PING`);
      return { url: redactUrl(url) };
    },
    close: async () => {
      closed = true;
      client?.disconnect();
    },
  };
}

/** The directory exists and a file can be created, written, synced and removed in it. */
export function dataDirWritableCheck(dir: string, tag = String(process.pid)): () => Promise<unknown> {
  return async () => {
    const st = await stat(dir).catch((e: NodeJS.ErrnoException) => {
      throw new Error(`${dir}: ${e.code === 'ENOENT' ? 'does not exist' : e.message}`);
    });
    if (!st.isDirectory()) throw new Error(`${dir} is not a directory`);
    const probe = join(dir, `.readyz-${tag}-${randomBytes(4).toString('hex')}`);
    try {
      const fh = await open(probe, 'w');
      try {
        await fh.writeFile('ok');
        await fh.sync();
      } finally {
        await fh.close();
      }
    } catch (e) {
      throw new Error(`${dir} is not writable: ${(e as Error).message}`);
    } finally {
      await unlink(probe).catch(() => undefined);
    }
    return { dir };
  };
}

/**
 * Something listens on TCP `port` in this network namespace. On Linux this reads /proc/net/tcp{,6}
 * (no connection is made, so the peer protocol never sees a probe); elsewhere it connects.
 */
export function tcpListeningCheck(port: number, host = '127.0.0.1'): () => Promise<unknown> {
  return async () => {
    const listening = await listeningPortsFromProc();
    if (listening) {
      if (!listening.has(port)) throw new Error(`nothing listens on port ${port}`);
      return { port };
    }
    await new Promise<void>((resolve, reject) => {
      const s = connect({ port, host: host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host });
      s.setTimeout(2000, () => s.destroy(new Error('connect timed out')));
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', (e) => reject(new Error(`nothing listens on port ${port}: ${e.message}`)));
    });
    return { port };
  };
}

/** Ports in LISTEN state, or undefined where /proc/net/tcp is not available. */
async function listeningPortsFromProc(): Promise<Set<number> | undefined> {
  const ports = new Set<number>();
  let found = false;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      continue;
    }
    found = true;
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // sl local_address rem_address st ...; st 0A = LISTEN
      if (cols.length > 3 && cols[3] === '0A') ports.add(parseInt(cols[1].split(':')[1], 16));
    }
  }
  return found ? ports : undefined;
}
