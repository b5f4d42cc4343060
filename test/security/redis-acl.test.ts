import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { newPassword, redisTlsOptions, storeKeyPattern, swarmRedisUsers, urlWithCredentials } from '@swarmshare/common';
import { RedisKeys } from '../../services/chunk-store/src/redis-keys';
import { Keys } from '../../services/tracker/src/tracker.repository';
import { type LocalServer, startRedisServer } from '../support/infra';
import { makeTlsFixture, type TlsFixture } from './tls-fixture';

/**
 * Issue 11, Redis least privilege: a real redis-server with the ACL users `swarmshare up` writes. A
 * node's store reaches only its own `{node:<id>}` keys, the tracker only its own, and nobody gets in
 * without a password.
 */
describe('Redis: ACL users per service, confined to their keys', () => {
  let server: LocalServer;
  let aclDir: string;
  const passwords = new Map<string, string>();
  const clients: Redis[] = [];
  const password = (u: string) => passwords.get(u) ?? (passwords.set(u, newPassword()), passwords.get(u)!);
  const as = (user: string, pass = password(user)) => {
    const c = new Redis(urlWithCredentials(server.url, user, pass), { maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
    c.on('error', () => undefined);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    aclDir = mkdtempSync(join(tmpdir(), 'ss-acl-'));
    server = await startRedisServer(undefined, undefined, { users: swarmRedisUsers(['a', 'b'], password), aclDir });
  });
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await server.stop();
    rmSync(aclDir, { recursive: true, force: true });
  });

  test('no password, or a wrong one, gets nothing', async () => {
    const anon = new Redis(server.url, { maxRetriesPerRequest: 0, lazyConnect: true, retryStrategy: () => null });
    anon.on('error', () => undefined);
    clients.push(anon);
    await expect(anon.get('ss:{node:a}:files')).rejects.toThrow(/NOAUTH/);
    const wrong = as('store-a', 'wrong-password-1234567');
    const refused = new Promise<Error>((resolve) => wrong.once('error', resolve));
    wrong.connect().catch(() => undefined);
    expect((await refused).message).toMatch(/WRONGPASS/);
  });

  test("node a's store reads and writes its own keys and is refused another node's and the tracker's", async () => {
    const a = new RedisKeys('a');
    const b = new RedisKeys('b');
    const storeA = as('store-a');
    await storeA.sadd(a.files(), 'f1');
    expect(await storeA.smembers(a.files())).toEqual(['f1']);
    const admin = as('admin');
    await admin.sadd(b.files(), 'theirs');

    await expect(storeA.smembers(b.files())).rejects.toThrow(/NOPERM/);
    await expect(storeA.sadd(b.files(), 'forged')).rejects.toThrow(/NOPERM/);
    await expect(storeA.setbit(b.bits('f'), 0, 1)).rejects.toThrow(/NOPERM/);
    await expect(storeA.hset(Keys.fileMeta('f'), 'size', '1')).rejects.toThrow(/NOPERM/);
    // A script is checked key by key too, including keys it builds itself.
    await expect(storeA.eval(`return redis.call('SADD', KEYS[1], 'x')`, 1, b.files())).rejects.toThrow(/NOPERM/);
    await expect(storeA.eval(`return redis.call('SADD', ARGV[1], 'x')`, 1, a.files(), b.files())).rejects.toThrow(/NOPERM|can't access/);
    // ...and nobody but the admin may wipe or enumerate everything.
    await expect(storeA.flushall()).rejects.toThrow(/NOPERM/);
    await expect(storeA.keys('*')).rejects.toThrow(/NOPERM/);
    expect(await admin.smembers(b.files())).toEqual(['theirs']);
    expect(storeKeyPattern('a')).toBe('ss:{node:a}:*');
  });

  test('the tracker reaches its own keys only', async () => {
    const tracker = as('tracker');
    await tracker.zadd(Keys.peerSeen, 1, 'a');
    await tracker.hset(Keys.fileMeta('f'), 'size', '1');
    await tracker.sadd(Keys.fileName('n'), 'f');
    await expect(tracker.smembers(new RedisKeys('a').files())).rejects.toThrow(/NOPERM/);
    await expect(tracker.set('unrelated', '1')).rejects.toThrow(/NOPERM/);
  });
});

describe('Redis over TLS (rediss://, CA from REDIS_CA_FILE)', () => {
  let server: LocalServer;
  let tls: TlsFixture;
  const pass = newPassword();

  beforeAll(async () => {
    tls = makeTlsFixture();
    server = await startRedisServer(undefined, undefined, { users: [{ user: 'admin', password: pass, keys: ['*'] }], aclDir: tls.dir, tls: { certFile: tls.certFile, keyFile: tls.keyFile, caFile: tls.caFile } });
  });
  afterAll(async () => {
    await server.stop();
    rmSync(tls.dir, { recursive: true, force: true });
  });

  const client = (url: string, caFile?: string) => {
    const c = new Redis(url, { ...redisTlsOptions(url, caFile), lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    c.on('error', () => undefined);
    return c;
  };

  test('a client trusting the CA talks to Redis over TLS', async () => {
    expect(server.url).toMatch(/^rediss:\/\//);
    const c = client(urlWithCredentials(server.url, 'admin', pass), tls.caFile);
    try {
      await c.connect();
      expect(await c.ping()).toBe('PONG');
    } finally {
      c.disconnect();
    }
  });

  test('a client trusting another CA, or speaking plain redis://, is refused', async () => {
    const other = client(urlWithCredentials(server.url, 'admin', pass), tls.otherCaFile);
    await expect(other.connect()).rejects.toThrow();
    other.disconnect();
    const plain = client(urlWithCredentials(server.url.replace(/^rediss:/, 'redis:'), 'admin', pass));
    await expect(plain.connect().then(() => plain.ping())).rejects.toThrow();
    plain.disconnect();
  });
});
