import { controlPlaneUsers, deploymentLogins, parsePasswordList, renderPasswordList, requiredPasswordKeys } from './control-plane';
import { natsAuthorizationInclude, natsServerConfig } from './nats-users';

describe('the users of a deployment (swarmshare control-plane)', () => {
  test('each process logs in as its own users: the gateway has no Redis user, the CLI is the admin', () => {
    expect(deploymentLogins(['a'])).toEqual([
      { name: 'admin', nats: 'admin', redis: 'admin' },
      { name: 'tracker', nats: 'tracker', redis: 'tracker' },
      { name: 'store-a', nats: 'store-a', redis: 'store-a' },
      { name: 'gateway-a', nats: 'gateway-a' },
    ]);
    expect(requiredPasswordKeys(['a'])).toEqual(['nats-admin', 'redis-admin', 'nats-tracker', 'redis-tracker', 'nats-store-a', 'redis-store-a', 'nats-gateway-a']);
  });

  test('a password list round-trips, and a bad line is refused with its number', () => {
    const list = new Map(requiredPasswordKeys(['a']).map((k, i) => [k, `${'x'.repeat(16)}${i}`]));
    expect(parsePasswordList(renderPasswordList(list))).toEqual(list);
    expect(() => parsePasswordList('nats-admin=short', 'f')).toThrow(/f, line 1: .*at least 16/);
    expect(() => parsePasswordList('# c\nbogus-admin=0123456789abcdefgh', 'f')).toThrow(/f, line 2/);
  });

  test('users get the list\'s passwords, and a missing one is an error rather than an empty password', () => {
    const list = new Map(requiredPasswordKeys(['a']).map((k) => [k, `pw-of-${k}-0123456789`]));
    const users = controlPlaneUsers(['a'], list);
    expect(users.nats.find((u) => u.user === 'gateway-a')?.password).toBe('pw-of-nats-gateway-a-0123456789');
    expect(users.redis.find((u) => u.user === 'store-a')).toMatchObject({ password: 'pw-of-redis-store-a-0123456789', keys: ['ss:{node:a}:*'] });
    list.delete('nats-store-a');
    expect(() => controlPlaneUsers(['a'], list)).toThrow(/no password for nats-store-a/);
  });

  test("the authorization include is exactly the block nats.conf would have", () => {
    const users = controlPlaneUsers(['a'], new Map(requiredPasswordKeys(['a']).map((k) => [k, `${k}-0123456789abcdef`])));
    const include = natsAuthorizationInclude(users.nats);
    expect(include.startsWith('authorization: {')).toBe(true);
    const whole = JSON.parse(natsServerConfig({ host: 'h', port: 1, storeDir: '/d', users: users.nats }));
    expect(JSON.parse(include.slice('authorization: '.length))).toEqual(whole.authorization);
  });
});
