import { natsPermissions, natsServerConfig, natsUserName, swarmNatsUsers } from './nats-users';
import { redisAclFile, swarmRedisUsers } from './redis-users';
import { urlWithCredentials } from './credentials';

describe('NATS and Redis users of a swarm', () => {
  test("a node's gateway and store reach their own node's subjects only", () => {
    const gw = natsPermissions('peer-gateway', 'a');
    expect(gw.publish.allow).toContain('swarm.node.a.store.>');
    expect(gw.publish.allow.some((s) => s.includes('node.b') || s.includes('node.*'))).toBe(false);
    expect(gw.subscribe.allow).toContain('swarm.node.a.gateway.>');
    const store = natsPermissions('chunk-store', 'a');
    expect(store.subscribe.allow).toContain('swarm.node.a.store.>');
    // The store publishes on node subjects only to tell its own gateway about corrupt chunks.
    expect(store.publish.allow.filter((s) => s.startsWith('swarm.node.'))).toEqual(['swarm.node.a.store.evt.corrupt']);
    expect(natsPermissions('peer-gateway', 'a').publish.deny).toEqual(['swarm.tracker.admin.>']);
    // A gateway publishes its own node's download progress only; the tracker (admin API) reads every node's.
    expect(gw.publish.allow).toContain('swarm.evt.download.progress.a');
    expect(gw.publish.allow.some((s) => s.startsWith('swarm.evt.download.progress') && s !== 'swarm.evt.download.progress.a')).toBe(false);
    expect(natsPermissions('tracker').subscribe.allow).toContain('swarm.evt.download.progress.*');
    expect(natsPermissions('tracker').subscribe.allow).toContain('swarm.tracker.> swarmshare-tracker');
    expect(() => natsPermissions('chunk-store')).toThrow(/node id/);
  });

  test('users: admin without limits, the tracker, a store and a gateway per node', () => {
    const users = swarmNatsUsers(['a', 'b'], (u) => `pw-${u}`);
    expect(users.map((u) => u.user)).toEqual(['admin', 'tracker', 'store-a', 'gateway-a', 'store-b', 'gateway-b']);
    expect(users[0].permissions).toBeUndefined();
    expect(natsUserName('peer-gateway', 'b')).toBe('gateway-b');
    const conf = JSON.parse(natsServerConfig({ host: '127.0.0.1', port: 4222, storeDir: '/d', users }));
    expect(conf.authorization.users[3]).toMatchObject({ user: 'gateway-a', password: 'pw-gateway-a', permissions: { allow_responses: true } });
    expect(conf.jetstream).toEqual({ store_dir: '/d' });
  });

  test('the Redis ACL file switches the default user off and confines each store to its keys', () => {
    const acl = redisAclFile(swarmRedisUsers(['a'], (u) => `password-of-${u}-0123456789`));
    expect(acl.split('\n')[0]).toBe('user default off resetkeys -@all');
    expect(acl).toContain('user store-a on >password-of-store-a-0123456789 resetkeys ~ss:{node:a}:* resetchannels +@all -@dangerous +info');
    expect(() => redisAclFile([{ user: 'x y', password: 'p'.repeat(20), keys: ['*'] }])).toThrow(/user name/);
    expect(() => redisAclFile([{ user: 'x', password: 'short', keys: ['*'] }])).toThrow(/16 characters/);
  });

  test('credentials go into a URL escaped, and come out again', () => {
    expect(urlWithCredentials('nats://127.0.0.1:4222', 'gateway-a', 'p@ss/word')).toBe('nats://gateway-a:p%40ss%2Fword@127.0.0.1:4222');
    expect(urlWithCredentials('rediss://h:6379', 'admin', 'x')).toBe('rediss://admin:x@h:6379');
  });
});
