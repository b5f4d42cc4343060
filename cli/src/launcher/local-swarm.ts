import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chunkStoreEnv, type ClusterUrls, type NodeSpec, nodeName, peerGatewayEnv, trackerEnv } from '@swarmshare/common';
import { freePort, type LocalServer, startNatsServer, startRedisServer } from './local-servers';
import { SwarmCredentials } from './swarm-credentials';
import { type RunningService, type ServiceName, startService } from './service-process';
import { ADMIN_TLS_ID, CLI_PEER_ID, ensureSwarmPki, NATS_TLS_ID, REDIS_TLS_ID } from './peer-pki';
import { type ClusterFile, writeClusterFile } from '../cluster-file';

export interface SwarmOptions {
  nodes: number;
  dataDir: string;
  /** Node ids to use instead of a, b, c, ... (tests use unique ones to share one Redis). */
  nodeIds?: string[];
  /** Use this NATS instead of starting nats-server. */
  natsUrl?: string;
  /** Use this Redis instead of starting redis-server. */
  redisUrl?: string;
  /** Extra env for every service (e.g. shorter announce intervals in tests). */
  extraEnv?: Record<string, string>;
  /** Bearer token of the trackers' gRPC admin API; a random one when unset (recorded in cluster.json). */
  adminToken?: string;
  /**
   * No TLS anywhere (`up --insecure`): peer plane, NATS, Redis and the admin API; every gateway and tracker
   * logs a warning. Default: TLS with a swarm CA under DATA/tls (mutual on the peer plane and admin API).
   */
  insecure?: boolean;
  onStatus?: (line: string) => void;
  /**
   * Where a node runs (bench:fleet): the address its gateway listens on and advertises, and a
   * command its processes are started under (`ip netns exec NS`). Default: loopback, no prefix.
   */
  placeNode?: (nodeId: string) => { host: string; prefix?: string[] };
}

/** How a service was started, kept so a dead one can be started again exactly the same way. */
interface Launch {
  service: ServiceName;
  env: Record<string, string>;
  logPath: string;
  nodeId?: string;
  trackerIndex?: number;
  prefix?: string[];
}

export interface SwarmNode {
  spec: NodeSpec;
  store: RunningService;
  gateway: RunningService;
}

/**
 * A whole swarm as local processes: the embedded default and the same topology as
 * docker-compose.yml (nats, redis, tracker, and per node a chunk-store + peer-gateway sharing one
 * data directory), with each process's environment built by libs/common/topology.ts.
 */
export class LocalSwarm {
  private constructor(
    readonly dataDir: string,
    readonly urls: ClusterUrls,
    readonly servers: LocalServer[],
    readonly tracker: RunningService[],
    readonly nodes: SwarmNode[],
    private readonly opts: SwarmOptions,
    private readonly credentials: SwarmCredentials,
    /** The servers' URLs without credentials; `urls` are the admin's (the CLI's, in cluster.json). */
    private readonly baseUrls: ClusterUrls,
  ) {}

  static async start(opts: SwarmOptions): Promise<LocalSwarm> {
    const dataDir = resolve(opts.dataDir);
    const say = opts.onStatus ?? (() => undefined);
    mkdirSync(join(dataDir, 'logs'), { recursive: true });
    const servers: LocalServer[] = [];
    let swarm: LocalSwarm | undefined;
    try {
      // Servers this swarm starts get a user per service and node, with least privilege (issue 11);
      // servers given by URL are the operator's to secure.
      const credentials = new SwarmCredentials(Array.from({ length: opts.nodes }, (_, i) => opts.nodeIds?.[i] ?? nodeName(i)));
      // The swarm CA and the certificates of the CLI and of this swarm's servers, first: nats-server needs its own.
      const pki = opts.insecure ? undefined : await ensureSwarmPki(dataDir, [CLI_PEER_ID, NATS_TLS_ID, REDIS_TLS_ID, ADMIN_TLS_ID]);
      let natsUrl = opts.natsUrl;
      let natsCa: string | undefined;
      if (!natsUrl) {
        mkdirSync(join(dataDir, 'nats'), { recursive: true });
        const tls = pki && { certFile: pki[NATS_TLS_ID].cert, keyFile: pki[NATS_TLS_ID].key, caFile: pki[NATS_TLS_ID].ca };
        const s = await startNatsServer(undefined, join(dataDir, 'nats'), { users: credentials.natsUsers(), tls });
        servers.push(s);
        natsCa = tls?.caFile;
        credentials.useNats(s, natsCa);
        natsUrl = s.url;
        say(`nats-server     ${s.url}  (a user per service${tls ? ', TLS with the swarm CA' : ''}, see nats/nats.conf)`);
      }
      let redisUrl = opts.redisUrl;
      let redisCa: string | undefined;
      if (!redisUrl) {
        mkdirSync(join(dataDir, 'redis'), { recursive: true });
        // TLS only (rediss://) with the swarm's server certificate, unless --insecure.
        const tls = pki && { certFile: pki[REDIS_TLS_ID].cert, keyFile: pki[REDIS_TLS_ID].key, caFile: pki[REDIS_TLS_ID].ca };
        const s = await startRedisServer(undefined, join(dataDir, 'redis'), { users: credentials.redisUsers(), aclDir: join(dataDir, 'redis'), tls });
        servers.push(s);
        redisCa = tls?.caFile;
        credentials.useRedis(s, redisCa);
        redisUrl = s.url;
        say(`redis-server    ${s.url}  (a user per service${tls ? ', TLS with the swarm CA' : ''}, see redis/users.acl)`);
      }
      const base = { natsUrl, redisUrl };
      swarm = new LocalSwarm(dataDir, credentials.urlsFor(base, 'admin'), servers, [], [], opts, credentials, base);
      if (!pki) say('WARNING: --insecure: no TLS on the peer plane, NATS, Redis or the admin API; anyone who reaches a peer port can read and offer files');
      swarm.cliTls = pki?.[CLI_PEER_ID];
      swarm.adminTls = pki?.[ADMIN_TLS_ID];
      swarm.natsCa = natsCa;
      swarm.redisCa = redisCa;
      await swarm.startTracker();
      for (let i = 0; i < opts.nodes; i++) await swarm.startNode(opts.nodeIds?.[i] ?? nodeName(i));
      swarm.writeClusterFile();
      return swarm;
    } catch (e) {
      if (swarm) await swarm.stop();
      else await Promise.all(servers.map((s) => s.stop()));
      throw e;
    }
  }

  /** Services log to files in DATA/logs at info level: the launcher waits for their info-level ready line. */
  private common(): Record<string, string> {
    return { LOG_LEVEL: 'info', ...(this.natsCa ? { NATS_CA_FILE: this.natsCa } : {}), ...(this.opts.extraEnv ?? {}) };
  }

  /** REDIS_CA_FILE of the services that use Redis, when this swarm started redis-server with TLS. */
  private redisTls(): Record<string, string> {
    return this.redisCa ? { REDIS_CA_FILE: this.redisCa } : {};
  }

  /** HTTP port (health, readiness, metrics) of each service, by process name. */
  readonly httpPorts = new Map<string, number>();
  /** gRPC admin API port of each tracker, by process name (loopback only). */
  readonly grpcPorts = new Map<string, number>();
  /** The admin API's bearer token: every tracker of this swarm accepts it. */
  get adminToken(): string {
    this.token ??= this.opts.adminToken ?? randomBytes(24).toString('hex');
    return this.token;
  }
  private token?: string;

  /** A fixed HTTP port per process name, kept across restarts so dashboards keep working. */
  private async httpPort(processName: string): Promise<string> {
    if (!this.httpPorts.has(processName)) this.httpPorts.set(processName, await freePort());
    return String(this.httpPorts.get(processName));
  }

  private readonly launches = new Map<string, Launch>();
  /** The CLI's peer certificate (recorded in cluster.json; also its admin API client certificate), unless insecure. */
  private cliTls?: { ca: string; cert: string; key: string };
  /** The trackers' admin port certificate, unless insecure. */
  private adminTls?: { ca: string; cert: string; key: string };
  /** The CA of the nats-server this swarm started with TLS (NATS_CA_FILE of every service); clients pass it with `urls.natsUrl`. */
  natsCa?: string;
  /** The CA of the redis-server this swarm started with TLS (REDIS_CA_FILE of the tracker and stores). */
  redisCa?: string;

  /** Start a service and remember how, under its process name (tracker-0, a-chunk-store, a-peer-gateway, ...). */
  private launch(processName: string, l: Launch): Promise<RunningService> {
    this.launches.set(processName, l);
    return startService(l.service, l.env, { logPath: l.logPath, prefix: l.prefix });
  }

  async startTracker(): Promise<RunningService> {
    const n = this.tracker.length;
    const name = `tracker-${n}`;
    if (!this.grpcPorts.has(name)) this.grpcPorts.set(name, await freePort());
    const tls: Record<string, string> = this.adminTls ? { GRPC_TLS: 'on', GRPC_TLS_CA: this.adminTls.ca, GRPC_TLS_CERT: this.adminTls.cert, GRPC_TLS_KEY: this.adminTls.key } : { GRPC_TLS: 'off' };
    const grpc = { GRPC_PORT: String(this.grpcPorts.get(name)), GRPC_HOST: '127.0.0.1', ADMIN_TOKEN: this.adminToken, ...tls };
    const env = trackerEnv(this.credentials.urlsFor(this.baseUrls, 'tracker'), { ...grpc, ...this.common(), ...this.redisTls(), HTTP_PORT: await this.httpPort(name) });
    const t = await this.launch(name, { service: 'tracker', env, logPath: join(this.dataDir, 'logs', `${name}.log`), trackerIndex: n });
    this.tracker.push(t);
    this.opts.onStatus?.(`tracker         pid ${t.proc.pid}  metrics http://127.0.0.1:${env.HTTP_PORT}/metrics  gRPC admin 127.0.0.1:${env.GRPC_PORT}`);
    return t;
  }

  /** Start (or restart, keeping its data and port) node `nodeId`. */
  async startNode(nodeId: string): Promise<SwarmNode> {
    const existing = this.nodes.find((n) => n.spec.nodeId === nodeId);
    const peerPort = existing?.spec.peerPort ?? (await freePort());
    const place = this.opts.placeNode?.(nodeId) ?? { host: '127.0.0.1' };
    const spec: NodeSpec = existing?.spec ?? {
      nodeId,
      dataDir: join(this.dataDir, 'nodes', nodeId),
      peerPort,
      peerHost: place.host,
      advertiseAddress: `${place.host}:${peerPort}`,
    };
    // Peer mutual TLS unless --insecure: the node's certificate from the swarm CA under DATA/tls.
    spec.peerTls ??= this.opts.insecure ? 'off' : (await ensureSwarmPki(this.dataDir, [nodeId]))[nodeId];
    mkdirSync(spec.dataDir, { recursive: true });
    await this.credentials.addNode(nodeId);
    const logs = join(this.dataDir, 'logs');
    const storeEnv = chunkStoreEnv(this.credentials.urlsFor(this.baseUrls, 'chunk-store', nodeId), spec, { ...this.common(), ...this.redisTls(), HTTP_PORT: await this.httpPort(`${nodeId}-chunk-store`) });
    const gatewayEnv = peerGatewayEnv(this.credentials.urlsFor(this.baseUrls, 'peer-gateway', nodeId), spec, { ...this.common(), HTTP_PORT: await this.httpPort(`${nodeId}-peer-gateway`) });
    const store = await this.launch(`${nodeId}-chunk-store`, { service: 'chunk-store', env: storeEnv, logPath: join(logs, `${nodeId}-chunk-store.log`), nodeId, prefix: place.prefix });
    const gateway = await this.launch(`${nodeId}-peer-gateway`, { service: 'peer-gateway', env: gatewayEnv, logPath: join(logs, `${nodeId}-peer-gateway.log`), nodeId, prefix: place.prefix });
    const node = { spec, store, gateway };
    if (existing) this.nodes[this.nodes.indexOf(existing)] = node;
    else this.nodes.push(node);
    this.opts.onStatus?.(`node ${nodeId.padEnd(10)} peer ${spec.advertiseAddress}  data ${spec.dataDir}  metrics :${storeEnv.HTTP_PORT} (store) :${gatewayEnv.HTTP_PORT} (gateway)`);
    return node;
  }

  /** Every service of the swarm by process name: tracker-0, ..., then per node its chunk-store and peer-gateway. */
  services(): Array<{ processName: string; service: RunningService }> {
    return [
      ...this.tracker.map((service, i) => ({ processName: `tracker-${i}`, service })),
      ...this.nodes.flatMap((n) => [
        { processName: `${n.spec.nodeId}-chunk-store`, service: n.store },
        { processName: `${n.spec.nodeId}-peer-gateway`, service: n.gateway },
      ]),
    ];
  }

  /**
   * Start a service that died again, with exactly the environment it had: same ports, same data
   * directory, same log file (appended). Its place in `tracker` / `nodes` is taken by the new process.
   */
  async respawn(processName: string): Promise<RunningService> {
    const l = this.launches.get(processName);
    if (!l) throw new Error(`no service ${processName} in this swarm`);
    const svc = await startService(l.service, l.env, { logPath: l.logPath, prefix: l.prefix });
    if (l.trackerIndex !== undefined) this.tracker[l.trackerIndex] = svc;
    else {
      const node = this.node(l.nodeId!);
      if (l.service === 'chunk-store') node.store = svc;
      else node.gateway = svc;
    }
    this.writeClusterFile();
    return svc;
  }

  node(nodeId: string): SwarmNode {
    const n = this.nodes.find((x) => x.spec.nodeId === nodeId);
    if (!n) throw new Error(`no node ${nodeId} in this swarm`);
    return n;
  }

  async stopNode(nodeId: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const n = this.node(nodeId);
    await Promise.all([n.gateway.stop(signal), n.store.stop(signal)]);
  }

  clusterFile(): ClusterFile {
    return {
      natsUrl: this.urls.natsUrl,
      redisUrl: this.urls.redisUrl,
      pid: process.pid,
      startedAt: new Date().toISOString(),
      nodes: this.nodes.map((n) => ({ nodeId: n.spec.nodeId, peerAddress: n.spec.advertiseAddress, dataDir: n.spec.dataDir })),
      httpPorts: Object.fromEntries(this.httpPorts),
      pids: Object.fromEntries([
        ...this.servers.map((s) => [s.name, s.process.pid ?? 0] as const),
        ...this.services().map((s) => [s.processName, s.service.proc.pid ?? 0] as const),
      ]),
      grpcPorts: Object.fromEntries(this.grpcPorts),
      adminToken: this.adminToken,
      peerTls: this.cliTls ?? null,
      natsCa: this.natsCa ?? null,
      redisCa: this.redisCa ?? null,
    };
  }

  writeClusterFile(): void {
    writeClusterFile(this.dataDir, this.clusterFile());
  }

  /** Stop everything this swarm started: services first, then redis and nats. */
  async stop(): Promise<void> {
    await Promise.all(this.nodes.flatMap((n) => [n.gateway.stop(), n.store.stop()]));
    await Promise.all(this.tracker.map((t) => t.stop()));
    await Promise.all(this.servers.map((s) => s.stop()));
  }
}
