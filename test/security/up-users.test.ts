import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { connectNats, storeSubjects } from '@swarmshare/common';
import { SwarmCredentials } from '../../cli/src/launcher/swarm-credentials';
import { type LocalServer, startNatsServer, startRedisServer } from '../support/infra';

/**
 * What `swarmshare up` gives each process (cli/src/launcher/swarm-credentials.ts): its own users in
 * its URLs, owner-only server configs, and users for a node that joins a running swarm.
 */
describe('swarmshare up: a user per process, also for a node added later', () => {
  let dir: string;
  let nats: LocalServer;
  let redis: LocalServer;
  const creds = new SwarmCredentials(['a']);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ss-up-users-'));
    nats = await startNatsServer(undefined, dir, { users: creds.natsUsers() });
    creds.useNats(nats);
    redis = await startRedisServer(undefined, undefined, { users: creds.redisUsers(), aclDir: dir });
    creds.useRedis(redis);
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
    expect(creds.urlsFor(base, 'tracker').natsUrl).toMatch(/^nats:\/\/tracker:[0-9a-f]{48}@/);
    expect(creds.urlsFor(base, 'chunk-store', 'a').redisUrl).toMatch(/^redis:\/\/store-a:[0-9a-f]{48}@/);
    // The gateway has no Redis user: it never talks to Redis.
    expect(creds.urlsFor(base, 'peer-gateway', 'a').redisUrl).toBe(redis.url);
    // One user's NATS and Redis passwords differ.
    const admin = creds.urlsFor(base, 'admin');
    expect(new URL(admin.natsUrl).password).not.toBe(new URL(admin.redisUrl).password);
  });

  test('a node added to the running swarm can log in at once, within its own subjects and keys only', async () => {
    const base = { natsUrl: nats.url, redisUrl: redis.url };
    await expect(connectNats(creds.urlsFor(base, 'peer-gateway', 'late').natsUrl, 'late', false)).rejects.toThrow(/Authorization/i);
    await creds.addNode('late');

    const gw = await connectNats(creds.urlsFor(base, 'peer-gateway', 'late').natsUrl, 'late-gateway', false);
    const store = await connectNats(creds.urlsFor(base, 'chunk-store', 'late').natsUrl, 'late-store', false);
    try {
      store.subscribe('swarm.node.late.store.>', { callback: (_e, m) => m.respond(Buffer.from('"ok"')) });
      await store.flush();
      expect(Buffer.from((await gw.request(storeSubjects('late').stats, Buffer.from('{}'), { timeout: 3000 })).data).toString()).toBe('"ok"');
      await expect(gw.request(storeSubjects('a').stats, Buffer.from('{}'), { timeout: 3000 })).rejects.toThrow(/Permissions Violation/i);
    } finally {
      await gw.close();
      await store.close();
    }

    const r = new Redis(creds.urlsFor(base, 'chunk-store', 'late').redisUrl, { maxRetriesPerRequest: 0, lazyConnect: true });
    try {
      await r.connect();
      await r.set('ss:{node:late}:indexed', '1');
      await expect(r.get('ss:{node:a}:indexed')).rejects.toThrow(/NOPERM/);
    } finally {
      r.disconnect();
    }
  });
});
