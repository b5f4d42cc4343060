/**
 * Real HTTP requests to /healthz, /readyz and /metrics of every service, each started from its
 * built dist/main.js exactly as in production (the environment from libs/common/topology.ts, as in
 * docker-compose.yml), and the tracker's readiness following its Redis being stopped and restarted.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import {
  chunkStoreEnv,
  METRIC_NAMES,
  type NodeSpec,
  OBSERVABILITY_ROUTES,
  peerGatewayEnv,
  TrackerSubjects,
  trackerEnv,
} from '@swarmshare/common';
import { freePort, type LocalServer, startRedisServer } from '../support/infra';
import { type RunningService, type ServiceName, serviceScript, startService } from '../support/services';
import { testGatewayTlsEnv } from '../support/peer-tls';
import { freePorts, httpGet, promSample, requireBuilt, waitFor } from './helpers';

function cluster() {
  const natsUrl = process.env.NATS_URL;
  const redisUrl = process.env.REDIS_URL;
  if (!natsUrl || !redisUrl) throw new Error('NATS_URL / REDIS_URL are not set: test/support/global-setup.ts should have started NATS and Redis');
  return { natsUrl, redisUrl };
}

function built(name: ServiceName): void {
  requireBuilt(serviceScript(name).slice(serviceScript(name).indexOf('services/')));
}

type Readiness = { status: string; failing: string[]; checks: Record<string, { status: string; error?: string }> };
async function readyz(port: number): Promise<{ status: number; body: Readiness }> {
  const r = await httpGet(port, OBSERVABILITY_ROUTES.readiness);
  return { status: r.status, body: JSON.parse(r.body) as Readiness };
}

/** The three endpoints of one running service, and a clean exit on SIGTERM. */
async function checkEndpoints(svc: RunningService, port: number, service: string, expectedChecks: string[], labels: Record<string, string> = {}): Promise<void> {
  const ready = await svc.waitForLog((l) => l.event === 'ready');
  expect(ready.httpPort).toBe(port);

  const live = await httpGet(port, OBSERVABILITY_ROUTES.liveness);
  expect(live.status).toBe(200);
  expect(live.contentType).toBe('application/json');
  expect(JSON.parse(live.body)).toMatchObject({ status: 'ok', pid: svc.proc.pid });

  const r = await waitFor(`${service} ready`, () => readyz(port), (x) => x.status === 200);
  expect(r.body.status).toBe('ready');
  expect(r.body.failing).toEqual([]);
  for (const name of expectedChecks) expect(r.body.checks[name]?.status).toBe('up');

  const m = await httpGet(port, OBSERVABILITY_ROUTES.metrics);
  expect(m.status).toBe(200);
  expect(m.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  for (const name of Object.values(METRIC_NAMES)) expect(m.body).toContain(`# TYPE ${name} `);
  expect(promSample(m.body, METRIC_NAMES.natsConnected, { service, ...labels })).toBe(1);
  expect(promSample(m.body, 'process_resident_memory_bytes', { service, ...labels })).toBeGreaterThan(0);
}

async function stopCleanly(svc: RunningService): Promise<void> {
  await svc.stop('SIGTERM', 20000);
  const { code, signal } = await svc.exited;
  expect(signal === 'SIGKILL').toBe(false);
  expect(code === 0 || code === null).toBe(true);
}

describe('service endpoints', () => {
  const started: RunningService[] = [];
  const servers: LocalServer[] = [];
  const dirs: string[] = [];

  afterAll(async () => {
    await Promise.all(started.map((s) => s.stop('SIGKILL')));
    await Promise.all(servers.map((s) => s.stop()));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('tracker: /healthz, /readyz and /metrics, with tracker requests counted by subject', async () => {
    built('tracker');
    const port = await freePort();
    const svc = await startService('tracker', trackerEnv(cluster(), { HTTP_PORT: String(port) }));
    started.push(svc);
    await checkEndpoints(svc, port, 'tracker', ['nats', 'redis']);
    const nc: NatsConnection = await connect({ servers: cluster().natsUrl });
    try {
      for (let i = 0; i < 3; i++) await nc.request(TrackerSubjects.listFiles, Buffer.from('{}'), { timeout: 5000 });
      await nc.request(TrackerSubjects.getFile, Buffer.from(JSON.stringify({ fileId: 'f'.repeat(64) })), { timeout: 5000 });
    } finally {
      await nc.close();
    }
    const text = (await httpGet(port, OBSERVABILITY_ROUTES.metrics)).body;
    expect(promSample(text, METRIC_NAMES.natsRequests, { service: 'tracker', subject: TrackerSubjects.listFiles, kind: 'request', outcome: 'ok' })).toBeGreaterThanOrEqual(1);
    expect(promSample(text, `${METRIC_NAMES.natsRequestDuration}_count`, { subject: TrackerSubjects.listFiles, kind: 'request' })).toBeGreaterThanOrEqual(1);
    expect(promSample(text, METRIC_NAMES.natsRequests, { subject: TrackerSubjects.getFile, outcome: 'NOT_FOUND' })).toBeGreaterThanOrEqual(1);
    await stopCleanly(svc);
  });

  it('tracker: /readyz turns unready when Redis is stopped and ready again when it returns', async () => {
    built('tracker');
    let redis = await startRedisServer();
    servers.push(redis);
    const port = await freePort();
    const svc = await startService('tracker', trackerEnv({ natsUrl: cluster().natsUrl, redisUrl: redis.url }, { HTTP_PORT: String(port) }));
    started.push(svc);
    await waitFor('tracker ready', () => readyz(port), (x) => x.status === 200);

    const redisPort = redis.port;
    await redis.stop();
    const down = await waitFor('tracker unready without Redis', () => readyz(port), (x) => x.status === 503);
    expect(down.body.status).toBe('unready');
    expect(down.body.failing).toContain('redis');
    expect(down.body.checks.redis.status).toBe('down');
    expect(down.body.checks.nats.status).toBe('up');
    // liveness is not readiness: the process is fine, it only waits for Redis
    expect((await httpGet(port, OBSERVABILITY_ROUTES.liveness)).status).toBe(200);

    redis = await startRedisServer(redisPort);
    servers.push(redis);
    const up = await waitFor('tracker ready with Redis back', () => readyz(port), (x) => x.status === 200, 30000);
    expect(up.body.checks.redis.status).toBe('up');
    expect(svc.proc.exitCode).toBeNull();
    await stopCleanly(svc);
  });

  it('chunk-store and peer-gateway of one node: /healthz, /readyz and /metrics', async () => {
    built('chunk-store');
    built('peer-gateway');
    const dataDir = mkdtempSync(join(tmpdir(), 'ss-deploy-node-'));
    dirs.push(dataDir);
    const [peerPort, storePort, gatewayPort] = await freePorts(3);
    const spec: NodeSpec = { nodeId: `dep${process.pid}`, dataDir, peerPort, peerHost: '127.0.0.1', advertiseAddress: `127.0.0.1:${peerPort}` };
    const store = await startService('chunk-store', chunkStoreEnv(cluster(), spec, { HTTP_PORT: String(storePort) }));
    started.push(store);
    const gateway = await startService('peer-gateway', peerGatewayEnv(cluster(), spec, { ...(await testGatewayTlsEnv(spec.nodeId)), HTTP_PORT: String(gatewayPort) }));
    started.push(gateway);
    await checkEndpoints(store, storePort, 'chunk-store', ['nats', 'redis', 'data-dir-writable'], { node: spec.nodeId });
    await checkEndpoints(gateway, gatewayPort, 'peer-gateway', ['nats', 'data-dir-writable', 'peer-port'], { node: spec.nodeId });
    await stopCleanly(gateway);
    await stopCleanly(store);
  });
});
