import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from './load-config';
import { ChunkStoreConfigSchema, PeerGatewayConfigSchema, TrackerConfigSchema } from './service-configs';

describe('loadConfig', () => {
  it('applies defaults and parses numbers and sizes', () => {
    const c = loadConfig('chunk-store', ChunkStoreConfigSchema, { NODE_ID: 'a', DATA_DIR: '/tmp/x', STORE_CAPACITY: '2GiB', LEASE_TTL_MS: '5000' });
    expect(c.STORE_CAPACITY).toBe(2 * 1024 ** 3);
    expect(c.LEASE_TTL_MS).toBe(5000);
    expect(c.NATS_URL).toBe('nats://127.0.0.1:4222');
    expect(c.REDIS_URL).toBe('redis://127.0.0.1:6379');
  });

  it('treats empty variables as unset', () => {
    const c = loadConfig('tracker', TrackerConfigSchema, { PEER_TTL_MS: '' });
    expect(c.PEER_TTL_MS).toBe(30000);
  });

  it('lists every bad variable with its value and what to do', () => {
    let err: unknown;
    try {
      loadConfig('peer-gateway', PeerGatewayConfigSchema, { NODE_ID: 'Bad Id', DATA_DIR: '/d', PEER_PORT: '70000', NATS_URL: 'http://x', ADVERTISE_ADDRESS: 'nohost' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/invalid configuration for peer-gateway/);
    expect(msg).toMatch(/NODE_ID: .*\(got "Bad Id"\)/);
    expect(msg).toMatch(/PEER_PORT: must be at most 65535 \(got "70000"\)/);
    expect(msg).toMatch(/NATS_URL: must be nats:\/\//);
    expect(msg).toMatch(/ADVERTISE_ADDRESS: address must be host:port/);
    expect(msg).toMatch(/Fix the environment variables/);
  });

  it('puts the passwords from NATS_PASSWORD_FILE and REDIS_PASSWORD_FILE into the URLs, which name the users', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ss-pwfile-'));
    try {
      const nats = join(dir, 'nats-password');
      const redis = join(dir, 'redis-password');
      writeFileSync(nats, 'p@ss/1\n');
      writeFileSync(redis, 'r3dis-pw');
      const c = loadConfig('tracker', TrackerConfigSchema, { NATS_URL: 'tls://tracker@n1:4222,tls://tracker@n2:4222', NATS_PASSWORD_FILE: nats, REDIS_URL: 'rediss://tracker@redis:6379', REDIS_PASSWORD_FILE: redis });
      expect(c.NATS_URL).toBe('tls://tracker:p%40ss%2F1@n1:4222,tls://tracker:p%40ss%2F1@n2:4222');
      expect(c.REDIS_URL).toBe('rediss://tracker:r3dis-pw@redis:6379');
      // A URL without a user, or with a password of its own, is a start-up error, as is an empty file.
      expect(() => loadConfig('tracker', TrackerConfigSchema, { NATS_URL: 'tls://n1:4222', NATS_PASSWORD_FILE: nats })).toThrow(/NATS_URL: with NATS_PASSWORD_FILE set, each URL names the user/);
      expect(() => loadConfig('tracker', TrackerConfigSchema, { REDIS_URL: 'rediss://u:x@r:6379', REDIS_PASSWORD_FILE: redis })).toThrow(/got one with a password/);
      writeFileSync(nats, '\n');
      expect(() => loadConfig('tracker', TrackerConfigSchema, { NATS_URL: 'tls://u@n1:4222', NATS_PASSWORD_FILE: nats })).toThrow(/must hold one password/);
      expect(() => loadConfig('tracker', TrackerConfigSchema, { NATS_PASSWORD_FILE: join(dir, 'missing') })).toThrow(/NATS_PASSWORD_FILE: must be the path of a readable file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports a missing required variable', () => {
    expect(() => loadConfig('chunk-store', ChunkStoreConfigSchema, { NODE_ID: 'a' })).toThrow(/DATA_DIR/);
  });

  it('rejects a size that is not a size', () => {
    expect(() => loadConfig('chunk-store', ChunkStoreConfigSchema, { NODE_ID: 'a', DATA_DIR: '/d', STORE_CAPACITY: 'lots' })).toThrow(/STORE_CAPACITY: "lots" is not a size/);
  });

  describe("the gateway's per-connection limits", () => {
    const gw = (env: Record<string, string>) => loadConfig('peer-gateway', PeerGatewayConfigSchema, { NODE_ID: 'a', DATA_DIR: '/d', PEER_TLS: 'off', ...env });

    it('default to 64 connections per address, 120 s idle and a 4 MiB write queue, and take sizes with units', () => {
      expect(gw({})).toMatchObject({ MAX_CONNECTIONS_PER_ADDRESS: 64, PEER_IDLE_TIMEOUT_MS: 120_000, PEER_WRITE_QUEUE_BYTES: 4 * 1024 * 1024 });
      expect(gw({ PEER_WRITE_QUEUE_BYTES: '8MiB', PEER_IDLE_TIMEOUT_MS: '500', MAX_CONNECTIONS_PER_ADDRESS: '2' })).toMatchObject({
        PEER_WRITE_QUEUE_BYTES: 8 * 1024 * 1024,
        PEER_IDLE_TIMEOUT_MS: 500,
        MAX_CONNECTIONS_PER_ADDRESS: 2,
      });
    });

    it('refuse to start on a bad value, naming the variable and what it takes', () => {
      const msg = (() => {
        try {
          gw({ MAX_CONNECTIONS_PER_ADDRESS: '0', PEER_IDLE_TIMEOUT_MS: '2m', PEER_WRITE_QUEUE_BYTES: '1MiB' });
        } catch (e) {
          return (e as Error).message;
        }
        return 'no error';
      })();
      expect(msg).toMatch(/MAX_CONNECTIONS_PER_ADDRESS: must be at least 1 \(got "0"\)/);
      expect(msg).toMatch(/PEER_IDLE_TIMEOUT_MS: must be a whole number \(got "2m"\)/);
      // A queue smaller than one control frame would cut off a peer for asking one large manifest.
      expect(msg).toMatch(/PEER_WRITE_QUEUE_BYTES: must be at least 1048581 bytes \(got "1MiB"\)/);
      expect(() => gw({ PEER_WRITE_QUEUE_BYTES: '2GiB' })).toThrow(/PEER_WRITE_QUEUE_BYTES: must be at most 1073741824 bytes/);
      expect(() => gw({ PEER_IDLE_TIMEOUT_MS: '99' })).toThrow(/PEER_IDLE_TIMEOUT_MS: must be at least 100/);
    });
  });
});
