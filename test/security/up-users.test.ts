import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { connectNats, redisTlsOptions, storeSubjects, urlWithCredentials } from '@swarmshare/common';
import { SwarmCredentials } from '../../cli/src/launcher/swarm-credentials';
import { ensureSwarmPki, NATS_TLS_ID, REDIS_TLS_ID } from '../../cli/src/launcher/peer-pki';
import { type LocalServer, startNatsServer, startRedisServer } from '../support/infra';

/**
 * What `swarmshare up` gives each process (cli/src/launcher/swarm-credentials.ts): its own users in
 * its URLs, owner-only server configs, and users for a node that joins a running swarm; NATS over
 * TLS with the swarm CA, and Redis over TLS (rediss://) likewise (as `up` starts them unless --insecure).
 */
describe('swarmshare up: a user per process, also for a node added later, over TLS to NATS and Redis', () => {
  let dir: string;
  let nats: LocalServer;
  let redis: LocalServer;
  let ca: string;
  const creds = new SwarmCredentials(['a']);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ss-up-users-'));
    const pkis = await ensureSwarmPki(dir, [NATS_TLS_ID, REDIS_TLS_ID]);
    const pki = pkis[NATS_TLS_ID];
    const rpki = pkis[REDIS_TLS_ID];
    ca = pki.ca;
    nats = await startNatsServer(undefined, dir, { users: creds.natsUsers(), tls: { certFile: pki.cert, keyFile: pki.key, caFile: pki.ca } });
    creds.useNats(nats, ca);
    redis = await startRedisServer(undefined, undefined, { users: creds.redisUsers(), aclDir: dir, tls: { certFile: rpki.cert, keyFile: rpki.key, caFile: rpki.ca } });
    creds.useRedis(redis, ca);
  });
  afterAll(async () => {
    await nats.stop();
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the server configs are readable by their owner only, and each role gets its own user', () => {
    expect(statSync(nats.authFile!).mode & 0o777).toBe(0o600);
    expect(statSync(redis.authFile!).mode & 0o777).toBe(0o600);
    const base = { natsUrl: nats.url, redisUrl: redis.url };
    expect(creds.urlsFor(base, 'tracker').natsUrl).toMatch(/^tls:\/\/tracker:[0-9a-f]{48}@/);
    expect(creds.urlsFor(base, 'chunk-store', 'a').redisUrl).toMatch(/^rediss:\/\/store-a:[0-9a-f]{48}@/);
    // The gateway has no Redis user: it never talks to Redis.
    expect(creds.urlsFor(base, 'peer-gateway', 'a').redisUrl).toBe(redis.url);
    // One user's NATS and Redis passwords differ.
    const admin = creds.urlsFor(base, 'admin');
    expect(new URL(admin.natsUrl).password).not.toBe(new URL(admin.redisUrl).password);
  });

  test('a node added to the running swarm can log in at once, within its own subjects and keys only', async () => {
    const base = { natsUrl: nats.url, redisUrl: redis.url };
    await expect(connectNats(creds.urlsFor(base, 'peer-gateway', 'late').natsUrl, 'late', false, ca)).rejects.toThrow(/Authorization/i);
    await creds.addNode('late');

    // The reloaded configuration keeps TLS: the new users log in over tls:// with the swarm CA.
    const gw = await connectNats(creds.urlsFor(base, 'peer-gateway', 'late').natsUrl, 'late-gateway', false, ca);
    const store = await connectNats(creds.urlsFor(base, 'chunk-store', 'late').natsUrl, 'late-store', false, ca);
    try {
      store.subscribe('swarm.node.late.store.>', { callback: (_e, m) => m.respond(Buffer.from('"ok"')) });
      await store.flush();
      expect(Buffer.from((await gw.request(storeSubjects('late').stats, Buffer.from('{}'), { timeout: 3000 })).data).toString()).toBe('"ok"');
      await expect(gw.request(storeSubjects('a').stats, Buffer.from('{}'), { timeout: 3000 })).rejects.toThrow(/Permissions Violation/i);
    } finally {
      await gw.close();
      await store.close();
    }

    const lateUrl = creds.urlsFor(base, 'chunk-store', 'late').redisUrl;
    const r = new Redis(lateUrl, { ...redisTlsOptions(lateUrl, ca), maxRetriesPerRequest: 0, lazyConnect: true });
    try {
      await r.connect();
      await r.set('ss:{node:late}:indexed', '1');
      await expect(r.get('ss:{node:a}:indexed')).rejects.toThrow(/NOPERM/);
    } finally {
      r.disconnect();
    }
  });

  test('Redis takes TLS only (rediss://): a plaintext client with valid credentials and one not trusting the swarm CA are refused', async () => {
    const adminUrl = creds.urlsFor({ natsUrl: nats.url, redisUrl: redis.url }, 'admin').redisUrl;
    expect(adminUrl).toMatch(/^rediss:\/\/admin:/);
    const once = { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null } as const;
    const attempt = async (url: string, tls: object): Promise<string> => {
      const r = new Redis(url, { ...tls, ...once });
      // The handshake's own error comes as an event; connect() then rejects with "Connection is closed".
      const seen: string[] = [];
      r.on('error', (e: Error) => seen.push(e.message));
      try {
        await r.connect();
        return await r.ping();
      } catch (e) {
        return `refused: ${[...seen, (e as Error).message].join('; ')}`;
      } finally {
        // Wait until the socket is gone, so no handle outlives the test.
        await new Promise<void>((resolve) => {
          if (r.status === 'end') return resolve();
          r.once('end', () => resolve());
          r.disconnect();
        });
      }
    };
    expect(await attempt(adminUrl.replace(/^rediss:/, 'redis:'), {})).toMatch(/^refused/);
    expect(await attempt(adminUrl, { tls: {} })).toMatch(/^refused: .*(self.signed|certificate)/i);
    expect(await attempt(adminUrl, redisTlsOptions(adminUrl, ca))).toBe('PONG');
  });

  test('NATS refuses a plaintext client, even with valid credentials, and a client not trusting the swarm CA', async () => {
    const adminUrl = creds.urlsFor({ natsUrl: nats.url, redisUrl: redis.url }, 'admin').natsUrl;
    const adminPassword = new URL(adminUrl).password;
    // A raw client that never starts TLS: the server announces tls_required and answers no PING.
    const said = await new Promise<string>((resolve) => {
      let text = '';
      const sock = tcpConnect(nats.port, '127.0.0.1');
      const done = () => {
        clearTimeout(timer);
        sock.destroy();
        resolve(text);
      };
      const timer = setTimeout(done, 5000);
      sock.on('data', (d) => {
        text += d.toString();
        if (text.includes('INFO ') && !text.includes('CONNECT_SENT')) {
          sock.write(`CONNECT {"user":"admin","pass":"${adminPassword}","verbose":false}\r\nPING\r\n`);
          text += 'CONNECT_SENT';
        }
        if (text.includes('PONG')) done();
      });
      sock.on('close', done);
      sock.on('error', done);
    });
    expect(said).toMatch(/"tls_required":true/);
    expect(said).not.toContain('PONG');
    // nats.js with the admin's credentials but without the swarm CA: the server's certificate is not trusted.
    await expect(connectNats(urlWithCredentials(nats.url, 'admin', adminPassword), 'no-ca', false)).rejects.toThrow();
    // With it, over tls://, the same credentials work.
    const nc = await connectNats(adminUrl, 'with-ca', false, ca);
    try {
      expect(nats.url).toMatch(/^tls:\/\//);
      await nc.flush();
      expect(nc.info?.tls_required).toBe(true);
    } finally {
      await nc.close();
    }
  });
});
