import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';

export { promSample } from '../support/prometheus';

export const REPO = join(__dirname, '..', '..');

export interface HttpReply {
  status: number;
  contentType: string;
  body: string;
}

/**
 * One plain HTTP GET on loopback; rejects on connection errors. A fresh connection each time
 * (agent: false): a pooled keep-alive socket would hide whether the server still listens.
 */
export function httpGet(port: number, path: string, timeoutMs = 5000): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', timeout: timeoutMs, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} on port ${port} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** Poll `probe` until `accept` holds for its value; fails with the last value seen. */
export async function waitFor<T>(what: string, probe: () => Promise<T>, accept: (v: T) => boolean, timeoutMs = 20000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastError: unknown;
  for (;;) {
    try {
      last = await probe();
      if (accept(last)) return last;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`${what}: not reached within ${timeoutMs} ms; last value ${JSON.stringify(last)}${lastError ? `, last error ${(lastError as Error).message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}


/** A built service entry point, or a clear failure saying how to build it. */
export function requireBuilt(relPath: string): string {
  const p = join(REPO, relPath);
  if (!existsSync(p)) throw new Error(`${relPath} does not exist: build the workspaces first (\`npm run build\`, or \`bash scripts/setup.sh\`)`);
  return p;
}

/** `n` distinct free loopback ports (all held open at once while picking, so none repeats). */
export async function freePorts(n: number): Promise<number[]> {
  const { createServer } = await import('node:net');
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<import('node:net').Server>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return ports;
}
