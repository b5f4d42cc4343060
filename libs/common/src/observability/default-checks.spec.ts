import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dataDirWritableCheck, redisPingCheck, tcpListeningCheck } from './default-checks';
import { redactUrl } from '../redis-client';

describe('dataDirWritableCheck', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ss-readyz-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('passes on a writable directory and leaves no probe file behind', async () => {
    await expect(dataDirWritableCheck(dir, 't')()).resolves.toEqual({ dir });
    expect(readdirSync(dir)).toEqual([]);
  });

  it('fails on a missing directory and on a file', async () => {
    await expect(dataDirWritableCheck(join(dir, 'nope'))()).rejects.toThrow(/nope: does not exist/);
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    await expect(dataDirWritableCheck(file)()).rejects.toThrow(/is not a directory/);
  });
});

describe('tcpListeningCheck', () => {
  it('passes while a server listens on the port and fails after it closes', async () => {
    const server: Server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const check = tcpListeningCheck(port);
    await expect(check()).resolves.toEqual({ port });
    await new Promise<void>((r) => server.close(() => r()));
    await expect(check()).rejects.toThrow(`nothing listens on port ${port}`);
  });
});

describe('redisPingCheck', () => {
  it('passes against the test Redis', async () => {
    const url = process.env.REDIS_URL;
    if (!url) throw new Error('REDIS_URL is not set: test/support/global-setup.ts should have started Redis');
    const c = redisPingCheck(url);
    try {
      const deadline = Date.now() + 5000;
      let last: unknown;
      for (;;) {
        try {
          last = await c.check();
          break;
        } catch (e) {
          if (Date.now() > deadline) throw e;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      expect(last).toEqual({ url: redactUrl(url) });
    } finally {
      await c.close();
    }
  });

  it('fails at once, saying why, when nothing answers', async () => {
    const server: Server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    await new Promise<void>((r) => server.close(() => r()));
    const c = redisPingCheck(`redis://127.0.0.1:${port}`);
    try {
      // the first check opens the connection and gives it a moment; later ones answer at once
      let started = Date.now();
      await expect(c.check()).rejects.toThrow(/redis is not connected \((connecting|reconnecting|connect)[^)]*ECONNREFUSED/);
      expect(Date.now() - started).toBeLessThan(2500);
      started = Date.now();
      await expect(c.check()).rejects.toThrow(/redis is not connected/);
      expect(Date.now() - started).toBeLessThan(500);
    } finally {
      await c.close();
    }
  });
});

describe('redactUrl', () => {
  it('hides a password and keeps the rest', () => {
    expect(redactUrl('redis://:s3cret@redis-0.redis:6379')).toBe('redis://:***@redis-0.redis:6379');
    expect(redactUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
  });
});
