import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'nats';
import {
  type ClusterUrls,
  createRedis,
  natsServerOptions,
  natsServerConfig,
  type NatsUser,
  type NatsUserKind,
  natsUserName,
  newPassword,
  redisAclFile,
  type RedisUser,
  redisUserName,
  swarmNatsUsers,
  swarmRedisUsers,
  urlWithCredentials,
} from '@swarmshare/common';
import type { LocalServer } from './local-servers';

/**
 * The NATS and Redis users of a swarm `up` runs (issue 11): a random password per user, and each
 * process's URLs carry its own user. A node added later gets its users, and the servers reload them.
 */
export class SwarmCredentials {
  private readonly passwords = new Map<string, string>();
  private nats?: LocalServer;
  private natsCa?: string;
  private redis?: LocalServer;
  private redisCa?: string;

  constructor(private readonly nodeIds: string[]) {}

  /** A password per user and server: the NATS and Redis users of a service share a name, not a password. */
  private passwordOf(server: 'nats' | 'redis', user: string): string {
    const key = `${server}:${user}`;
    if (!this.passwords.has(key)) this.passwords.set(key, newPassword());
    return this.passwords.get(key)!;
  }
  private natsPassword = (user: string): string => this.passwordOf('nats', user);
  private redisPassword = (user: string): string => this.passwordOf('redis', user);

  natsUsers(): NatsUser[] {
    return swarmNatsUsers(this.nodeIds, this.natsPassword);
  }

  redisUsers(): RedisUser[] {
    return swarmRedisUsers(this.nodeIds, this.redisPassword);
  }

  /** The swarm's nats-server was started with natsUsers() (its config in `<storeDir>/nats.conf`), and TLS with this CA if given. */
  useNats(server: LocalServer, caFile?: string): void {
    this.nats = server;
    this.natsCa = caFile;
  }

  /** The swarm's redis-server was started with redisUsers() (its ACL file in `authFile`), and TLS with this CA if given. */
  useRedis(server: LocalServer, caFile?: string): void {
    this.redis = server;
    this.redisCa = caFile;
  }

  /** The URLs one process uses: its own users on the servers this swarm secures, else the URLs as given. */
  urlsFor(base: ClusterUrls, kind: NatsUserKind, nodeId?: string): ClusterUrls {
    const natsUser = natsUserName(kind, nodeId);
    const natsUrl = this.nats ? urlWithCredentials(base.natsUrl, natsUser, this.natsPassword(natsUser)) : base.natsUrl;
    const redisKind = kind === 'peer-gateway' ? undefined : kind;
    const redisUser = redisKind && redisUserName(redisKind, nodeId);
    const redisUrl = this.redis && redisUser ? urlWithCredentials(base.redisUrl, redisUser, this.redisPassword(redisUser)) : base.redisUrl;
    return { natsUrl, redisUrl };
  }

  /** Give a node that was not in the swarm at start its users; both servers reload theirs. */
  async addNode(nodeId: string): Promise<void> {
    if (this.nodeIds.includes(nodeId)) return;
    this.nodeIds.push(nodeId);
    if (this.nats?.authFile) {
      const server = this.nats;
      const confPath = this.nats.authFile;
      const conf = JSON.parse(readFileSync(confPath, 'utf8'));
      const tls = conf.tls && { certFile: conf.tls.cert_file, keyFile: conf.tls.key_file, caFile: conf.tls.ca_file };
      writeFileSync(confPath, natsServerConfig({ host: conf.host, port: conf.port, storeDir: conf.jetstream.store_dir, users: this.natsUsers(), tls }), { mode: 0o600 });
      server.process.kill('SIGHUP');
      await this.waitForNatsUser(server.url, natsUserName('peer-gateway', nodeId));
    }
    if (this.redis?.authFile) {
      writeFileSync(this.redis.authFile, redisAclFile(this.redisUsers()), { mode: 0o600 });
      const admin = createRedis(urlWithCredentials(this.redis.url, 'admin', this.redisPassword('admin')), { caFile: this.redisCa, ioredis: { lazyConnect: true, maxRetriesPerRequest: 1 } });
      try {
        await admin.connect();
        await admin.call('ACL', 'LOAD');
      } finally {
        admin.disconnect();
      }
    }
  }

  /**
   * nats-server reloads its config asynchronously after SIGHUP: wait until the new user can log in.
   * Each try is short (1 s), so one connect that hangs across the reload does not use up the wait.
   */
  private async waitForNatsUser(url: string, user: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const nc = await connect({ ...natsServerOptions(urlWithCredentials(url, user, this.natsPassword(user)), this.natsCa), name: 'swarmshare-up-reload-check', timeout: 1000, reconnect: false });
        await nc.close();
        return;
      } catch (e) {
        if (Date.now() > deadline) throw new Error(`nats-server did not take the new user ${user} within ${timeoutMs} ms: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
}
