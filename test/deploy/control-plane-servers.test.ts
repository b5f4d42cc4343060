/**
 * The NATS and Redis configuration compose and Kubernetes ship, run for real: nats-server and
 * redis-server (Debian's) started with the files `swarmshare control-plane` renders and the exact
 * arguments of docker-compose.yml and k8s/, each service logging in with the settings its container
 * gets (through the services' own config loader). Only what a container has and a host has not is
 * changed: container paths become temp dirs, fixed ports free ones, service host names localhost
 * (which the server certificates also name).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import type { NatsConnection } from 'nats';
import { parse, parseAllDocuments } from 'yaml';
import type { z } from 'zod';
import { connectNats, ensurePeerPki, loadConfig, redisTlsOptions, ServiceConfigSchemas, storeSubjects } from '@swarmshare/common';
import { findBinary, waitForPort } from '../support/infra';
import { type Role } from './deploy-model';
import { type Container, type K8sObject, k8sWithControlPlane, podSpecOf } from './k8s-model';
import { freePorts, REPO, requireBuilt } from './helpers';
import { resolveNats } from '../../cli/src/cluster-file';

const CLI = requireBuilt('cli/dist/main.js');
const cli = (args: string[]) => execFileSync(process.execPath, [CLI, ...args], { stdio: 'pipe' });

/** A server process of this test, stopped at the end. */
const running: ChildProcess[] = [];
async function run(bin: string, args: string[], port: number, env: NodeJS.ProcessEnv = {}): Promise<void> {
  const p = spawn(findBinary(bin)!, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  let err = '';
  p.stderr!.on('data', (d) => (err += d));
  running.push(p);
  await waitForPort(port, '127.0.0.1', 15_000).catch((e) => {
    throw new Error(`${bin} ${args.join(' ')} did not start: ${(e as Error).message}\n${err}`);
  });
}

/** `from` -> `to` in every string (arguments, configuration text). */
const mapAll = (text: string, paths: Array<[string, string]>) => paths.reduce((t, [from, to]) => t.split(from).join(to), text);
const argAfter = (args: string[], flag: string) => args[args.indexOf(flag) + 1];

/** A service's config as its container would load it, with `env` (password files, CA, URLs). */
function serviceConfig(role: Role, env: Record<string, string>): { NATS_URL: string; NATS_CA_FILE?: string; REDIS_URL?: string; REDIS_CA_FILE?: string } {
  // The peer plane is not what this checks: off unless the container's env says otherwise.
  return loadConfig(role, ServiceConfigSchemas[role] as z.ZodObject, { NODE_ID: 'x', DATA_DIR: '/tmp', PEER_TLS: 'off', ...env }) as never;
}

interface Logins {
  nats(role: Role, env: Record<string, string>, name: string): Promise<NatsConnection>;
  redis(role: Role, env: Record<string, string>): Redis;
}
const opened: Array<NatsConnection | Redis> = [];
const logins: Logins = {
  async nats(role, env, name) {
    const c = serviceConfig(role, env);
    const nc = await connectNats(c.NATS_URL, name, false, c.NATS_CA_FILE);
    opened.push(nc);
    return nc;
  },
  redis(role, env) {
    const c = serviceConfig(role, env);
    const r = new Redis(c.REDIS_URL!, { ...redisTlsOptions(c.REDIS_URL!, c.REDIS_CA_FILE), lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on('error', () => undefined);
    opened.push(r);
    return r;
  },
};

/**
 * What least privilege must show on any deployment: a store answers its own node's subjects, its
 * gateway reaches them, another node's gateway is refused; Redis keys of another node are refused;
 * nobody gets in without credentials or without TLS.
 */
async function expectEnforced(o: {
  natsUrl: string;
  redisUrl: string;
  ca: string;
  store: (node: 'first' | 'second') => { role: Role; env: Record<string, string> };
  gateway: (node: 'first' | 'second') => { role: Role; env: Record<string, string> };
  tracker: { role: Role; env: Record<string, string> };
  nodeIds: [string, string];
}): Promise<void> {
  const [first, second] = o.nodeIds;
  const store = await logins.nats(o.store('first').role, o.store('first').env, 'store');
  store.subscribe(`swarm.node.${first}.store.>`, { callback: (_e, m) => m.respond(Buffer.from('"ok"')) });
  await store.flush();
  const own = await logins.nats(o.gateway('first').role, o.gateway('first').env, 'own-gateway');
  expect(Buffer.from((await own.request(storeSubjects(first).stats, Buffer.from('{}'), { timeout: 5000 })).data).toString()).toBe('"ok"');
  const other = await logins.nats(o.gateway('second').role, o.gateway('second').env, 'other-gateway');
  await expect(other.request(storeSubjects(first).stats, Buffer.from('{}'), { timeout: 5000 })).rejects.toThrow(/Permissions Violation/i);
  // No credentials: refused; the right password in plaintext: refused (TLS required).
  await expect(connectNats(o.natsUrl, 'anonymous', false, o.ca)).rejects.toThrow(/Authorization/i);
  await expect(connectNats(serviceConfig('tracker', o.tracker.env).NATS_URL.replace(/^tls:/, 'nats:'), 'plaintext', false)).rejects.toThrow();

  const rs = logins.redis(o.store('first').role, o.store('first').env);
  await rs.connect();
  await rs.set(`ss:{node:${first}}:indexed`, '1');
  await expect(rs.get(`ss:{node:${second}}:indexed`)).rejects.toThrow(/NOPERM/);
  await expect(rs.flushall()).rejects.toThrow(/NOPERM/);
  const rt = logins.redis(o.tracker.role, o.tracker.env);
  await rt.connect();
  await expect(rt.get(`ss:{node:${first}}:indexed`)).rejects.toThrow(/NOPERM/);
  const anonymous = new Redis(o.redisUrl, { ...redisTlsOptions(o.redisUrl, o.ca), lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableReadyCheck: false });
  anonymous.on('error', () => undefined);
  opened.push(anonymous);
  await anonymous.connect();
  await expect(anonymous.get(`ss:{node:${first}}:indexed`)).rejects.toThrow(/NOAUTH/);
}

describe('the control plane compose and Kubernetes ship, on real nats-server and redis-server', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'ss-cp-servers-'));
  afterAll(async () => {
    for (const c of opened) 'close' in c ? await c.close().catch(() => undefined) : c.disconnect();
    await Promise.all(running.map((p) => new Promise<void>((r) => (p.exitCode !== null ? r() : (p.once('exit', () => r()), p.kill('SIGTERM'))))));
    rmSync(tmp, { recursive: true, force: true });
  });

  test('docker-compose.yml: peer-pki and control-plane as compose runs them, nats and redis with its arguments', async () => {
    const compose = parse(readFileSync(join(REPO, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, { command: string[]; environment?: Record<string, string> }> };
    const s = compose.services;
    const dir = join(tmp, 'compose');
    const cp = join(dir, 'control-plane');
    const [natsPort, natsHttp, redisPort] = await freePorts(3);
    mkdirSync(join(dir, 'nats-data'), { recursive: true });
    mkdirSync(join(dir, 'redis-data'), { recursive: true });
    // The one-shot jobs, with their volumes in the temp dir; --owners is for a root container's chown.
    cli(s['peer-pki'].command.map((a) => (a === '/pki' ? join(dir, 'pki') : a)));
    const cpArgs = s['control-plane'].command.map((a) => mapAll(a, [['/control-plane', cp], ['/pki', join(dir, 'pki')]]));
    // --owners is for the root container's chown: kept when this runs as root, which can then check it.
    const asRoot = process.getuid?.() === 0;
    if (!asRoot) cpArgs.splice(cpArgs.indexOf('--owners'), 2);
    cli(cpArgs);
    if (asRoot) {
      const [services, redisOwner] = argAfter(s['control-plane'].command, '--owners').split(',').map((o) => o.split(':').map(Number));
      const owner = (f: string) => {
        const st = statSync(join(cp, f));
        return { f, uid: st.uid, gid: st.gid, mode: st.mode & 0o777 };
      };
      expect(owner('credentials/store-a/nats-password')).toEqual({ f: 'credentials/store-a/nats-password', uid: services[0], gid: services[1], mode: 0o600 });
      expect(owner('redis/users.acl')).toEqual({ f: 'redis/users.acl', uid: redisOwner[0], gid: redisOwner[1], mode: 0o640 });
      expect(owner('redis/redis-server.key')).toEqual({ f: 'redis/redis-server.key', uid: redisOwner[0], gid: redisOwner[1], mode: 0o640 });
      expect(owner('state/passwords.env')).toEqual({ f: 'state/passwords.env', uid: 0, gid: 0, mode: 0o600 });
    }
    // Volumes: nats-auth = control-plane/nats (at /etc/nats in nats), redis-auth = control-plane/redis.
    const volumes: Array<[string, string]> = [['/etc/nats', join(cp, 'nats')], ['/etc/redis', join(cp, 'redis')]];
    const conf = JSON.parse(mapAll(readFileSync(join(cp, 'nats', 'nats.conf'), 'utf8'), volumes));
    writeFileSync(join(dir, 'nats.conf'), JSON.stringify({ ...conf, host: '127.0.0.1', port: natsPort, jetstream: { store_dir: join(dir, 'nats-data') } }));
    const natsArgs = s.nats.command.map((a) => mapAll(a, [...volumes, ['/data', join(dir, 'nats-data')]]));
    natsArgs[natsArgs.indexOf('--config') + 1] = join(dir, 'nats.conf');
    natsArgs[natsArgs.indexOf('--http_port') + 1] = String(natsHttp);
    await run('nats-server', natsArgs, natsPort);
    const redisArgs = s.redis.command.slice(1).map((a) => mapAll(a, [...volumes, ['/data', join(dir, 'redis-data')]]));
    redisArgs[redisArgs.indexOf('--tls-port') + 1] = String(redisPort);
    await run('redis-server', [...redisArgs, '--bind', '127.0.0.1'], redisPort);

    /** A compose service's environment on this host: its creds volume, the servers on localhost. */
    const envOf = (service: string, login: string): Record<string, string> =>
      Object.fromEntries(
        Object.entries(s[service].environment ?? {}).map(([k, v]) => [
          k,
          mapAll(String(v), [['/run/swarmshare', join(cp, 'credentials', login)], ['@nats:4222', `@localhost:${natsPort}`], ['@redis:6379', `@localhost:${redisPort}`]]),
        ]),
      );
    await expectEnforced({
      natsUrl: `tls://localhost:${natsPort}`,
      redisUrl: `rediss://localhost:${redisPort}`,
      ca: join(dir, 'pki', 'ca.pem'),
      store: (n) => ({ role: 'chunk-store', env: envOf(`node-${n === 'first' ? 'a' : 'b'}-store`, `store-${n === 'first' ? 'a' : 'b'}`) }),
      gateway: (n) => ({ role: 'peer-gateway', env: envOf(`node-${n === 'first' ? 'a' : 'b'}-gateway`, `gateway-${n === 'first' ? 'a' : 'b'}`) }),
      tracker: { role: 'tracker', env: envOf('tracker', 'tracker') },
      nodeIds: ['a', 'b'],
    });
    // JetStream is on (the facts stream needs it), from the rendered configuration alone.
    const tracker = await logins.nats('tracker', envOf('tracker', 'tracker'), 'tracker');
    const js = JSON.parse(Buffer.from((await tracker.request('$JS.API.INFO', Buffer.from(''), { timeout: 5000 })).data).toString());
    expect(js.error).toBeUndefined();
    expect(js.type).toBe('io.nats.jetstream.api.v1.account_info_response');
    // The CLI logs in as admin with compose's settings (resolveNats: NATS_PASSWORD_FILE), and may do anything.
    const saved = { ...process.env };
    Object.assign(process.env, envOf('cli', 'admin'));
    let admin: { url: string; caFile?: string };
    try {
      admin = resolveNats({ data: join(dir, 'no-swarm-here') });
    } finally {
      process.env = saved;
    }
    const nc = await connectNats(admin.url, 'cli', false, admin.caFile);
    opened.push(nc);
    // Answering on a tracker admin subject is the admin's alone (gateways are denied it).
    nc.subscribe('swarm.tracker.admin.check', { callback: (_e, m) => m.respond(Buffer.from('"admin"')) });
    await nc.flush();
    expect(Buffer.from((await nc.request('swarm.tracker.admin.check', Buffer.from('{}'), { timeout: 5000 })).data).toString()).toBe('"admin"');
  });

  test('k8s/: the ConfigMap nats.conf with the generated users included, redis with its arguments, the node init container handing out passwords', async () => {
    const k8s = k8sWithControlPlane();
    try {
      const objects = readdirYaml(k8s.dir);
      const find = (kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name)!;
      const dir = join(tmp, 'k8s');
      const gen = join(k8s.dir, 'control-plane');
      // The servers' certificates, as cert-manager's Certificates name them (files tls.crt, tls.key, ca.crt).
      const tlsDir = (id: string, hosts: string[]) => {
        const out = join(dir, `${id}-tls`);
        mkdirSync(out, { recursive: true });
        return ensurePeerPki(join(dir, 'pki'), [id], { [id]: hosts }).then((p) => {
          writeFileSync(join(out, 'tls.crt'), readFileSync(p[id].cert));
          writeFileSync(join(out, 'tls.key'), readFileSync(p[id].key));
          writeFileSync(join(out, 'ca.crt'), readFileSync(p[id].ca));
          return out;
        });
      };
      const certHosts = (name: string) => (find('Certificate', name).spec as { dnsNames: string[] }).dnsNames;
      const natsTls = await tlsDir('nats', certHosts('swarmshare-nats-tls'));
      const redisTls = await tlsDir('redis', certHosts('swarmshare-redis-tls'));
      const [natsPort, natsHttp, natsRoutes, redisPort] = await freePorts(4);

      // nats: config/nats.conf (the ConfigMap) next to auth/nats-users.conf (the Secret's item), as mounted.
      const natsConf = (find('ConfigMap', 'swarmshare-nats-config') as K8sObject & { data: Record<string, string> }).data['nats.conf'];
      mkdirSync(join(dir, 'nats', 'config'), { recursive: true });
      mkdirSync(join(dir, 'nats', 'auth'), { recursive: true });
      mkdirSync(join(dir, 'nats', 'run'), { recursive: true });
      writeFileSync(join(dir, 'nats', 'auth', 'nats-users.conf'), readFileSync(join(gen, 'nats-users.conf')));
      const natsContainer = podSpecOf(find('StatefulSet', 'swarmshare-nats'))!.containers[0];
      const confPath = argAfter(natsContainer.args!, '--config');
      writeFileSync(
        join(dir, 'nats', 'config', 'nats.conf'),
        mapAll(natsConf, [
          ['0.0.0.0:4222', `127.0.0.1:${natsPort}`],
          ['0.0.0.0:8222', `127.0.0.1:${natsHttp}`],
          ['0.0.0.0:6222', `127.0.0.1:${natsRoutes}`],
          ['/var/run/nats', join(dir, 'nats', 'run')],
          ['/data/jetstream', join(dir, 'nats', 'jetstream')],
          ['/etc/nats/tls', natsTls],
        ]),
      );
      await run('nats-server', ['--config', mapAll(confPath, [['/etc/nats', join(dir, 'nats')]])], natsPort, { POD_NAME: 'swarmshare-nats-0' });

      // redis: the StatefulSet's arguments, its ACL file from the Secret, its certificate.
      const rc = podSpecOf(find('StatefulSet', 'swarmshare-redis'))!.containers[0];
      mkdirSync(join(dir, 'redis', 'auth'), { recursive: true });
      mkdirSync(join(dir, 'redis', 'data'), { recursive: true });
      writeFileSync(join(dir, 'redis', 'auth', 'users.acl'), readFileSync(join(gen, 'users.acl')));
      const redisArgs = rc.args!.slice(1).map((a) => mapAll(a, [['/etc/redis/auth', join(dir, 'redis', 'auth')], ['/etc/redis/tls', redisTls], ['/data', join(dir, 'redis', 'data')]]));
      redisArgs[redisArgs.indexOf('--tls-port') + 1] = String(redisPort);
      await run('redis-server', [...redisArgs, '--bind', '127.0.0.1'], redisPort);

      // The Secret's keys as files (what its volume shows), and each node pod's init container run for real.
      const secretDir = join(dir, 'secret');
      mkdirSync(secretDir, { recursive: true });
      for (const line of readFileSync(join(gen, 'passwords.env'), 'utf8').split('\n')) {
        if (line && !line.startsWith('#')) writeFileSync(join(secretDir, line.slice(0, line.indexOf('='))), line.slice(line.indexOf('=') + 1));
      }
      const node = find('StatefulSet', 'swarmshare-node');
      const init = podSpecOf(node)!.initContainers![0];
      const pods = ['swarmshare-node-0', 'swarmshare-node-1'] as const;
      const podDirs: Record<string, string> = {};
      for (const pod of pods) {
        const p = join(dir, pod);
        for (const d of ['store', 'gateway']) mkdirSync(join(p, d), { recursive: true });
        const script = mapAll(init.command![2], [['/control-plane', secretDir], ['/store', join(p, 'store')], ['/gateway', join(p, 'gateway')], ['/tls/ca.crt', join(natsTls, 'ca.crt')]]);
        execFileSync('sh', ['-c', script], { env: { ...process.env, POD_NAME: pod }, stdio: 'pipe' });
        podDirs[pod] = p;
      }
      // A pod beyond the generated replicas is stopped by the init container, saying what to do.
      const beyond = join(dir, 'beyond');
      for (const d of ['store', 'gateway']) mkdirSync(join(beyond, d), { recursive: true });
      const r = spawnSh(mapAll(init.command![2], [['/control-plane', secretDir], ['/store', join(beyond, 'store')], ['/gateway', join(beyond, 'gateway')]]), 'swarmshare-node-99');
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(/no nats-store-swarmshare-node-99 in Secret swarmshare-control-plane.*swarmshare control-plane --target k8s/);

      const [storeC, gatewayC] = podSpecOf(node)!.containers;
      const tracker = podSpecOf(find('Deployment', 'swarmshare-tracker'))!.containers[0];
      // The tracker's Secret items, as its volume shows them.
      const trackerCreds = join(dir, 'tracker');
      mkdirSync(trackerCreds, { recursive: true });
      writeFileSync(join(trackerCreds, 'nats-password'), readFileSync(join(secretDir, 'nats-tracker')));
      writeFileSync(join(trackerCreds, 'redis-password'), readFileSync(join(secretDir, 'redis-tracker')));
      const hosts: Array<[string, string]> = [['@swarmshare-nats:4222', `@localhost:${natsPort}`], ['@swarmshare-redis:6379', `@localhost:${redisPort}`]];
      const envOf = (c: Container, pod: string, mounts: Array<[string, string]>) => {
        const env: Record<string, string> = {};
        for (const e of c.env ?? []) {
          if (e.valueFrom?.fieldRef) env[e.name] = pod;
          else if (e.value !== undefined && /^(NATS|REDIS)_/.test(e.name)) env[e.name] = mapAll(e.value.replace(/\$\(NODE_ID\)/g, pod), [...hosts, ...mounts]);
        }
        return env;
      };
      const nodeEnv = (which: 'first' | 'second', c: Container, part: 'store' | 'gateway') => {
        const pod = pods[which === 'first' ? 0 : 1];
        return envOf(c, pod, [['/run/swarmshare', join(podDirs[pod], part)], ['/tls/ca.crt', join(natsTls, 'ca.crt')]]);
      };
      await expectEnforced({
        natsUrl: `tls://localhost:${natsPort}`,
        redisUrl: `rediss://localhost:${redisPort}`,
        ca: join(natsTls, 'ca.crt'),
        store: (n) => ({ role: 'chunk-store', env: nodeEnv(n, storeC, 'store') }),
        gateway: (n) => ({ role: 'peer-gateway', env: nodeEnv(n, gatewayC, 'gateway') }),
        tracker: { role: 'tracker', env: envOf(tracker, 'tracker-pod', [['/run/swarmshare', trackerCreds], ['/tls/ca.crt', join(natsTls, 'ca.crt')]]) },
        nodeIds: [pods[0], pods[1]],
      });
    } finally {
      k8s.cleanup();
    }
  });
});

function spawnSh(script: string, pod: string): { status: number | null; stderr: string } {
  try {
    execFileSync('sh', ['-c', script], { env: { ...process.env, POD_NAME: pod }, stdio: 'pipe' });
    return { status: 0, stderr: '' };
  } catch (e) {
    const err = e as { status: number | null; stderr: Buffer };
    return { status: err.status, stderr: err.stderr.toString() };
  }
}

/** Every object of the YAML files in `dir` (the kustomization's resources). */
function readdirYaml(dir: string): K8sObject[] {
  const kust = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
  return kust.resources.flatMap((f) => parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => d.toJS() as K8sObject).filter(Boolean));
}
