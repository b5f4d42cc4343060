/**
 * docker-compose.yml, as `docker-compose config` resolves it (anchors, defaults), checked against
 * the service config schemas, topology.ts, the Dockerfile and the routes the services serve.
 * Nothing here runs a container.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { OBSERVABILITY_ROUTES } from '@swarmshare/common';
import {
  deploymentExtras,
  defaultedKeys,
  readRepoFile,
  requiredKeys,
  type Role,
  ROLES,
  schemaKeys,
  topologyEnv,
  topologyKeys,
  validateEnv,
} from './deploy-model';
import { REPO } from './helpers';
import { COMPOSE_NATS_STORE_DIR } from '../../cli/src/commands/control-plane';

interface ComposeService {
  image?: string;
  user?: string;
  build?: unknown;
  command?: string[] | string;
  entrypoint?: string[] | string;
  environment?: Record<string, string | number | null> | string[];
  volumes?: Array<string | { type?: string; source?: string; target: string; read_only?: boolean }>;
  healthcheck?: { test?: string[] | string; disable?: boolean };
  depends_on?: Record<string, { condition?: string }> | string[];
  restart?: string;
  profiles?: string[];
  ports?: Array<string | { host_ip?: string; published?: string | number; target?: number }>;
}

/** Where each process finds its own NATS/Redis passwords and the servers' CA (its creds-<process> volume). */
const CREDENTIALS = '/run/swarmshare';

/** scheme://host:port of a URL, without the user. */
const serverOf = (url: string) => {
  const u = new URL(url);
  return `${u.protocol}//${u.host}`;
};

/** The admin API's token a compose user exports (docker-compose.yml refuses to start without one). */
const COMPOSE_ADMIN_TOKEN = 'compose-test-admin-token-0123';

/** `docker-compose config` (the Debian package scripts/setup.sh installs), or `docker compose config`. */
function composeConfig(extraEnv: Record<string, string> = { ADMIN_TOKEN: COMPOSE_ADMIN_TOKEN }): { services: Record<string, ComposeService>; volumes?: Record<string, unknown> } {
  const env: NodeJS.ProcessEnv = { ...process.env, COMPOSE_PROJECT_NAME: 'swarmshare', ...extraEnv };
  const attempts: Array<[string, string[]]> = [
    ['docker-compose', ['--profile', 'cli', 'config']],
    ['docker', ['compose', '--profile', 'cli', 'config']],
  ];
  const errors: string[] = [];
  for (const [bin, args] of attempts) {
    const r = spawnSync(bin, args, { cwd: REPO, env, encoding: 'utf8' });
    if (r.status === 0) return parse(r.stdout);
    errors.push(`${bin} ${args.join(' ')}: ${r.error ? r.error.message : r.stderr.trim()}`);
  }
  throw new Error(`cannot resolve docker-compose.yml; install docker-compose (\`bash scripts/setup.sh\` or apt-get install -y docker-compose):\n${errors.join('\n')}`);
}

const asList = (v: string[] | string | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : v.split(/\s+/).filter(Boolean));

function envOf(s: ComposeService): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(s.environment)) {
    for (const kv of s.environment) {
      const i = kv.indexOf('=');
      out[i < 0 ? kv : kv.slice(0, i)] = i < 0 ? '' : kv.slice(i + 1);
    }
  } else {
    for (const [k, v] of Object.entries(s.environment ?? {})) out[k] = v === null ? '' : String(v);
  }
  return out;
}

function mounts(s: ComposeService): Array<{ source: string; target: string; readOnly: boolean }> {
  return (s.volumes ?? []).map((v) => {
    if (typeof v === 'string') {
      const [source, target, mode] = v.split(':');
      return { source, target, readOnly: mode === 'ro' };
    }
    return { source: v.source ?? '', target: v.target, readOnly: v.read_only === true };
  });
}

function roleOf(s: ComposeService): Role | undefined {
  const first = asList(s.command)[0];
  return (ROLES as string[]).includes(first) ? (first as Role) : undefined;
}

describe('docker-compose.yml', () => {
  const config = composeConfig();
  const services = config.services;
  const swarm = Object.entries(services).filter(([, s]) => roleOf(s) !== undefined) as Array<[string, ComposeService]>;
  /** Node ids from the node-<id>-store / node-<id>-gateway service pairs. */
  const nodes = [...new Set(Object.keys(services).map((n) => /^node-([a-z0-9_-]+?)-(store|gateway)$/.exec(n)?.[1]).filter((n): n is string => !!n))].sort();

  it('has nats with JetStream, redis with persistence, the tracker, nodes a, b, c as store + gateway, and the cli under a profile', () => {
    expect(nodes).toEqual(expect.arrayContaining(['a', 'b', 'c']));
    expect(Object.keys(services).sort()).toEqual(['cli', 'control-plane', 'nats', 'peer-pki', 'redis', 'tracker', ...nodes.flatMap((n) => [`node-${n}-store`, `node-${n}-gateway`])].sort());
    // JetStream is configured in the nats.conf control-plane renders (test/deploy/control-plane-servers.test.ts runs it).
    const natsArgs = asList(services.nats.command);
    expect(natsArgs).toContain('--config');
    expect(mounts(services.nats).find((m) => m.target === COMPOSE_NATS_STORE_DIR)?.source).toBe('nats-data');
    const redisArgs = asList(services.redis.command);
    expect(redisArgs.join(' ')).toMatch(/--appendonly yes/);
    const dir = redisArgs[redisArgs.indexOf('--dir') + 1];
    expect(mounts(services.redis).find((m) => m.target === dir)?.source).toBe('redis-data');
    expect(roleOf(services.tracker)).toBe('tracker');
    for (const n of nodes) {
      expect(roleOf(services[`node-${n}-store`])).toBe('chunk-store');
      expect(roleOf(services[`node-${n}-gateway`])).toBe('peer-gateway');
    }
    expect(services.cli.profiles).toEqual(['cli']);
  });

  it('gives each node\'s two containers one named volume at the same path, the same NODE_ID, and DATA_DIR = that path', () => {
    const volumeNames = Object.keys(config.volumes ?? {});
    for (const n of nodes) {
      const store = services[`node-${n}-store`];
      const gateway = services[`node-${n}-gateway`];
      // Besides it, the gateway mounts the peer TLS volume and each its own credentials, read-only (cases below).
      const sm = mounts(store).filter((m) => m.target !== CREDENTIALS);
      const gm = mounts(gateway).filter((m) => m.target !== '/pki' && m.target !== CREDENTIALS);
      expect(sm).toHaveLength(1);
      expect(gm).toEqual(sm);
      expect(volumeNames).toContain(sm[0].source);
      expect(sm[0].readOnly).toBe(false);
      expect(envOf(store).NODE_ID).toBe(n);
      expect(envOf(gateway).NODE_ID).toBe(n);
      expect(envOf(store).DATA_DIR).toBe(sm[0].target);
      expect(envOf(gateway).DATA_DIR).toBe(sm[0].target);
    }
    const sources = nodes.map((n) => mounts(services[`node-${n}-store`])[0].source);
    expect(new Set(sources).size).toBe(nodes.length);
  });

  it('sets only variables a service reads, every required one, and values the service accepts', () => {
    expect(swarm).toHaveLength(1 + 2 * nodes.length);
    for (const [name, s] of swarm) {
      const role = roleOf(s)!;
      const env = envOf(s);
      const known = new Set(schemaKeys(role));
      const unknown = Object.keys(env).filter((k) => !known.has(k));
      expect({ service: name, unknown }).toEqual({ service: name, unknown: [] });
      const missing = requiredKeys(role).filter((k) => !(k in env));
      expect({ service: name, missing }).toEqual({ service: name, missing: [] });
      expect(() => validateEnv(role, env)).not.toThrow();
    }
  });

  it('gives each service exactly the env topology.ts builds for its role (the local launcher\'s), plus LOG_LEVEL and HTTP_PORT', () => {
    const natsUrls = new Set<string>();
    const redisUrls = new Set<string>();
    for (const [name, s] of swarm) {
      const role = roleOf(s)!;
      const env = envOf(s);
      const wanted = deploymentExtras(role);
      const extras = Object.fromEntries(Object.entries(env).filter(([k]) => wanted.includes(k)));
      expect({ service: name, extras: Object.keys(extras).sort() }).toEqual({ service: name, extras: [...wanted].sort() });
      expect({ service: name, env }).toEqual({ service: name, env: topologyEnv(role, env, extras) });
      expect(Object.keys(env).filter((k) => !wanted.includes(k)).sort()).toEqual(topologyKeys(role));
      for (const k of Object.keys(extras)) expect(defaultedKeys(role)).toContain(k);
      natsUrls.add(serverOf(env.NATS_URL));
      if (env.REDIS_URL) redisUrls.add(serverOf(env.REDIS_URL));
    }
    // One NATS and one Redis, over TLS (each process's user: the case below).
    expect([...natsUrls]).toEqual(['tls://nats:4222']);
    expect([...redisUrls]).toEqual(['rediss://redis:6379']);
    expect(envOf(services.cli)).toEqual({
      NATS_URL: 'tls://admin@nats:4222',
      NATS_PASSWORD_FILE: `${CREDENTIALS}/nats-password`,
      NATS_CA_FILE: `${CREDENTIALS}/ca.pem`,
      PEER_TLS_CA: '/pki/ca.pem',
      PEER_TLS_CERT: '/pki/cli-local.pem',
      PEER_TLS_KEY: '/pki/cli-local.key',
    });
  });

  it('logs every process into NATS and Redis as its own user, over TLS, with a password only its own volume holds', () => {
    // process -> the users it must log in as (a gateway never talks to Redis; the CLI is the admin).
    const expected: Record<string, { nats: string; redis?: string; creds: string }> = {
      tracker: { nats: 'tracker', redis: 'tracker', creds: 'creds-tracker' },
      cli: { nats: 'admin', creds: 'creds-admin' },
      ...Object.fromEntries(nodes.flatMap((n) => [
        [`node-${n}-store`, { nats: `store-${n}`, redis: `store-${n}`, creds: `creds-store-${n}` }],
        [`node-${n}-gateway`, { nats: `gateway-${n}`, creds: `creds-gateway-${n}` }],
      ])),
    };
    for (const [name, want] of Object.entries(expected)) {
      const env = envOf(services[name]);
      const nats = new URL(env.NATS_URL);
      // No process connects without credentials, and no password is written in the compose file.
      expect({ name, scheme: nats.protocol, user: nats.username, password: nats.password }).toEqual({ name, scheme: 'tls:', user: want.nats, password: '' });
      expect({ name, natsPassword: env.NATS_PASSWORD_FILE, natsCa: env.NATS_CA_FILE }).toEqual({ name, natsPassword: `${CREDENTIALS}/nats-password`, natsCa: `${CREDENTIALS}/ca.pem` });
      if (want.redis) {
        const redis = new URL(env.REDIS_URL);
        expect({ name, scheme: redis.protocol, user: redis.username, password: redis.password }).toEqual({ name, scheme: 'rediss:', user: want.redis, password: '' });
        expect({ name, redisPassword: env.REDIS_PASSWORD_FILE, redisCa: env.REDIS_CA_FILE }).toEqual({ name, redisPassword: `${CREDENTIALS}/redis-password`, redisCa: `${CREDENTIALS}/ca.pem` });
      } else expect({ name, redis: env.REDIS_URL, file: env.REDIS_PASSWORD_FILE }).toEqual({ name, redis: undefined, file: undefined });
      // Its credentials volume, read-only, which no other process mounts (control-plane writes it).
      expect(mounts(services[name]).filter((m) => m.target === CREDENTIALS)).toEqual([{ source: want.creds, target: CREDENTIALS, readOnly: true }]);
      const holders = Object.entries(services).filter(([, s]) => mounts(s).some((m) => m.source === want.creds)).map(([n]) => n).sort();
      expect({ creds: want.creds, holders }).toEqual({ creds: want.creds, holders: ['control-plane', name].sort() });
    }
    // control-plane writes each at credentials/<login> (its --out), the login being the NATS user.
    const cp = services['control-plane'];
    for (const want of Object.values(expected)) {
      expect(mounts(cp)).toContainEqual({ source: want.creds, target: `/control-plane/credentials/${want.creds.replace(/^creds-/, '')}`, readOnly: false });
      expect(want.creds).toBe(`creds-${want.nats}`);
    }
  });

  it('renders NATS and Redis users once with control-plane, from the same tables as up, for exactly the nodes compose runs', () => {
    const cp = services['control-plane'];
    expect(cp.image).toBe(services.tracker.image);
    expect(asList(cp.entrypoint)).toEqual(['/usr/bin/tini', '--', '/app/docker/entrypoint.sh', 'cli']);
    const args = asList(cp.command);
    const flag = (f: string) => args[args.indexOf(f) + 1];
    expect(args[0]).toBe('control-plane');
    expect(flag('--target')).toBe('compose');
    expect(flag('--out')).toBe('/control-plane');
    expect(flag('--nodes').split(',').sort()).toEqual(nodes);
    // TLS files from peer-pki, which it waits for; the password list in a volume no one else mounts.
    expect(flag('--pki')).toBe('/pki');
    expect(mounts(cp)).toContainEqual({ source: 'peer-pki', target: '/pki', readOnly: true });
    expect((cp.depends_on as Record<string, { condition?: string }>)['peer-pki']).toEqual({ condition: 'service_completed_successfully' });
    expect(mounts(cp)).toContainEqual({ source: 'control-plane-state', target: '/control-plane/state', readOnly: false });
    expect(Object.entries(services).filter(([, s]) => mounts(s).some((m) => m.source === 'control-plane-state')).map(([n]) => n)).toEqual(['control-plane']);
    // Owners: the services' user (the image's 1000:1000) and redis-server's (below).
    expect(flag('--owners')).toBe(`1000:1000,${services.redis.user}`);
    expect(cp.restart).toBe('no');
  });

  it('runs nats-server on the rendered nats.conf (users, permissions, TLS) and redis-server TLS only with the rendered ACL file', () => {
    const cp = services['control-plane'];
    const natsArgs = asList(services.nats.command);
    expect(natsArgs[natsArgs.indexOf('--config') + 1]).toBe('/etc/nats/nats.conf');
    expect(mounts(services.nats)).toContainEqual({ source: 'nats-auth', target: '/etc/nats', readOnly: true });
    expect(mounts(cp)).toContainEqual({ source: 'nats-auth', target: '/control-plane/nats', readOnly: false });
    const redisArgs = asList(services.redis.command);
    const rflag = (f: string) => redisArgs[redisArgs.indexOf(f) + 1];
    expect(rflag('--aclfile')).toBe('/etc/redis/users.acl');
    // No plaintext port: TLS on 6379 (the port REDIS_URLs name), the server certificate peer-pki issued for "redis".
    expect(rflag('--port')).toBe('0');
    expect(rflag('--tls-port')).toBe('6379');
    expect([rflag('--tls-cert-file'), rflag('--tls-key-file'), rflag('--tls-ca-cert-file')]).toEqual(['/etc/redis/redis-server.pem', '/etc/redis/redis-server.key', '/etc/redis/ca.pem']);
    expect(mounts(services.redis)).toContainEqual({ source: 'redis-auth', target: '/etc/redis', readOnly: true });
    expect(mounts(cp)).toContainEqual({ source: 'redis-auth', target: '/control-plane/redis', readOnly: false });
    expect(services.redis.user).toBe('999:1000');
    for (const server of ['nats', 'redis']) {
      expect((services[server].depends_on as Record<string, { condition?: string }>)['control-plane']).toEqual({ condition: 'service_completed_successfully' });
    }
    // peer-pki issues the two server certificates for the names the services dial.
    const pki = asList(services['peer-pki'].command);
    const hosts = pki.filter((_, i) => pki[i - 1] === '--host');
    expect(hosts).toEqual(expect.arrayContaining([expect.stringMatching(/^nats-server=nats,/), expect.stringMatching(/^redis-server=redis,/)]));
  });

  it('runs the peer plane with mutual TLS: peer-pki issues a certificate per node and the CLI, each gateway uses its own', () => {
    const pki = services['peer-pki'];
    expect(pki.image).toBe(services.tracker.image);
    expect(asList(pki.entrypoint)).toEqual(['/usr/bin/tini', '--', '/app/docker/entrypoint.sh', 'cli']);
    const args = asList(pki.command);
    expect(args.slice(0, 3)).toEqual(['pki', '--dir', '/pki']);
    expect(args.slice(3).filter((a, i, all) => a !== '--host' && all[i - 1] !== '--host').sort()).toEqual([...nodes, 'cli-local', 'tracker-grpc', 'nats-server', 'redis-server'].sort());
    // The tracker's admin port gets a server certificate for the names clients dial.
    expect(args[args.indexOf('--host') + 1]).toBe('tracker-grpc=tracker,localhost,127.0.0.1');
    expect(mounts(pki)).toEqual([{ source: 'peer-pki', target: '/pki', readOnly: false }]);
    for (const n of nodes) {
      const g = services[`node-${n}-gateway`];
      expect(envOf(g)).toMatchObject({ PEER_TLS: 'on', PEER_TLS_CA: '/pki/ca.pem', PEER_TLS_CERT: `/pki/${n}.pem`, PEER_TLS_KEY: `/pki/${n}.key` });
      expect(mounts(g)).toContainEqual({ source: 'peer-pki', target: '/pki', readOnly: true });
      expect((g.depends_on as Record<string, { condition?: string }>)['peer-pki']).toEqual({ condition: 'service_completed_successfully' });
    }
    expect(mounts(services.cli)).toContainEqual({ source: 'peer-pki', target: '/pki', readOnly: true });
  });

  it('serves the tracker\'s gRPC admin API on all interfaces in the network, on the host\'s loopback only, over mutual TLS, with the token the user exports', () => {
    const env = envOf(services.tracker);
    expect(env).toMatchObject({ GRPC_PORT: '9090', GRPC_HOST: '0.0.0.0', ADMIN_TOKEN: COMPOSE_ADMIN_TOKEN });
    // Mutual TLS with the swarm CA from peer-pki, as `up` does.
    expect(env).toMatchObject({ GRPC_TLS: 'on', GRPC_TLS_CA: '/pki/ca.pem', GRPC_TLS_CERT: '/pki/tracker-grpc.pem', GRPC_TLS_KEY: '/pki/tracker-grpc.key' });
    expect(mounts(services.tracker)).toContainEqual({ source: 'peer-pki', target: '/pki', readOnly: true });
    expect((services.tracker.depends_on as Record<string, { condition?: string }>)['peer-pki']).toEqual({ condition: 'service_completed_successfully' });
    const published = (services.tracker.ports ?? []).map((p) => (typeof p === 'string' ? p : `${p.host_ip ?? ''}:${p.published}:${p.target}`));
    expect(published.map((p) => p.replace(/\/tcp$/, ''))).toContain('127.0.0.1:9090:9090');
    // Secure by default: without ADMIN_TOKEN exported, compose refuses the whole file.
    const r = spawnSync('docker-compose', ['config'], { cwd: REPO, env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'ADMIN_TOKEN')), COMPOSE_PROJECT_NAME: 'swarmshare' }, encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/set ADMIN_TOKEN/);
  });

  it('advertises each gateway at its own service name and PEER_PORT, listening on all interfaces', () => {
    for (const n of nodes) {
      const env = envOf(services[`node-${n}-gateway`]);
      expect(env.ADVERTISE_ADDRESS).toBe(`node-${n}-gateway:${env.PEER_PORT}`);
      expect(env.PEER_HOST).toBe('0.0.0.0');
    }
  });

  it('health-checks every Swarmshare container with node and a script the image ships, on a route the services serve', () => {
    const dockerfile = readRepoFile('Dockerfile');
    const routes = Object.values(OBSERVABILITY_ROUTES) as string[];
    for (const [name, s] of swarm) {
      const test = asList(s.healthcheck?.test);
      expect({ service: name, test: test.slice(0, 3) }).toEqual({ service: name, test: ['CMD', 'node', '/app/docker/healthcheck.js'] });
      expect(routes).toContain(test[3]);
      expect(Number(envOf(s).HTTP_PORT)).toBeGreaterThan(0);
      expect(s.image).toBe(services.tracker.image);
    }
    // the script is in the repo and copied to /app/docker/ by the runtime stage, whose base image has node
    expect(existsSync(join(REPO, 'docker', 'healthcheck.js'))).toBe(true);
    const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    expect(runtime).toMatch(/^\nFROM \$\{NODE_IMAGE\} AS runtime/);
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:20-bookworm-slim$/m);
    expect(runtime).toMatch(/^COPY docker\/entrypoint\.sh docker\/healthcheck\.js docker\/$/m);
    expect(runtime).toMatch(/^WORKDIR \/app$/m);
    expect(runtime).toMatch(/^USER 1000:1000$/m);
  });

  it('health-checks nats and redis with binaries their pinned images ship', () => {
    // nats:*-alpine has busybox wget; redis images have redis-cli and sh
    expect(services.nats.image).toMatch(/^nats:2\.\d+\.\d+-alpine$/);
    expect(asList(services.nats.healthcheck?.test).slice(0, 2)).toEqual(['CMD', 'wget']);
    expect(asList(services.nats.healthcheck?.test).join(' ')).toContain('http://127.0.0.1:8222/healthz');
    expect(asList(services.nats.command).join(' ')).toMatch(/--http_port 8222/);
    expect(services.redis.image).toMatch(/^redis:7\.\d+\.\d+-alpine$/);
    expect(asList(services.redis.healthcheck?.test)[0]).toBe('CMD-SHELL');
    // TLS only, and no password in the check: an answer (PONG, or NOAUTH since it did not log in) is health.
    expect(asList(services.redis.healthcheck?.test).slice(1).join(' ')).toMatch(/^redis-cli --tls --cacert \/etc\/redis\/ca\.pem -h localhost ping \| grep -qE '\^\(PONG\|NOAUTH\)'$/);
  });

  it('starts in order: every dependency is waited for until healthy, every server restarts', () => {
    for (const [name, s] of Object.entries(services)) {
      const deps = s.depends_on ?? {};
      expect(Array.isArray(deps)).toBe(false);
      for (const [dep, cond] of Object.entries(deps as Record<string, { condition?: string }>)) {
        if (dep === 'peer-pki' || dep === 'control-plane') continue; // one-shot jobs, waited for until they completed (cases above)
        expect({ service: name, dep, condition: cond.condition }).toEqual({ service: name, dep, condition: 'service_healthy' });
        expect(services[dep].healthcheck?.test).toBeDefined();
        expect(asList(services[dep].healthcheck?.test)[0]).not.toBe('NONE');
      }
      if (!['cli', 'peer-pki', 'control-plane'].includes(name)) expect({ service: name, restart: s.restart }).toEqual({ service: name, restart: 'unless-stopped' });
    }
    // ...and the one-shot peer-pki (its admin port's certificate).
    expect(Object.keys(services.tracker.depends_on ?? {}).sort()).toEqual(['nats', 'peer-pki', 'redis']);
    for (const n of nodes) {
      expect(Object.keys(services[`node-${n}-store`].depends_on ?? {}).sort()).toEqual(['nats', 'redis']);
      expect(Object.keys(services[`node-${n}-gateway`].depends_on ?? {}).sort()).toEqual([`node-${n}-store`, 'peer-pki', 'tracker']);
    }
  });

  it('runs the CLI from the same image with /data (files to share) and /out (fetched files)', () => {
    const cli = services.cli;
    expect(cli.image).toBe(services.tracker.image);
    expect(asList(cli.entrypoint)).toEqual(['/usr/bin/tini', '--', '/app/docker/entrypoint.sh', 'cli']);
    const m = mounts(cli);
    expect(m.find((x) => x.target === '/data')?.readOnly).toBe(true);
    expect(m.find((x) => x.target === '/out')?.readOnly).toBe(false);
    // `docker compose run --rm cli share ...` appends to the entrypoint: the script must take "cli"
    expect(readRepoFile('docker/entrypoint.sh')).toMatch(/^\s*cli\|swarmshare\)$/m);
    const r = execFileSync('sh', [join(REPO, 'docker', 'entrypoint.sh'), 'help'], { encoding: 'utf8' });
    expect(r).toMatch(/tracker \| chunk-store \| peer-gateway \| cli/);
  });
});
