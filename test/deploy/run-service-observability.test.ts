/**
 * runService's observability wiring, in process, against a dedicated nats-server and redis-server
 * that the test stops and starts again: the global HealthRegistry/Metrics providers, the default
 * checks, the NATS handler metrics, reconnect counting and the HTTP server's life cycle.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Controller, type DynamicModule, type INestApplicationContext, Module } from '@nestjs/common';
import { EventPattern, MessagePattern, Payload } from '@nestjs/microservices';
import { connect, type NatsConnection } from 'nats';
import { z } from 'zod';
import {
  envInt,
  envLogLevel,
  envNatsUrls,
  envUrl,
  HealthRegistry,
  Metrics,
  METRIC_NAMES,
  OBSERVABILITY_ROUTES,
  runService,
  SwarmError,
} from '@swarmshare/common';
import { freePort, type LocalServer, startNatsServer, startRedisServer } from '../support/infra';
import { httpGet, promSample, waitFor } from './helpers';

const P = `test.obs.${process.pid}`;
let customUp = true;
let eventsSeen = 0;
const SLOW_MS = 150;

@Controller()
class ProbeController {
  constructor(
    health: HealthRegistry,
    readonly metrics: Metrics,
  ) {
    health.register('custom', () => (customUp ? { note: 'fine' } : Promise.reject(new Error('custom is down'))));
  }

  @MessagePattern(`${P}.echo`)
  echo(@Payload() body: unknown): unknown {
    return body;
  }

  @MessagePattern(`${P}.fail`)
  fail(): never {
    throw new SwarmError('NOT_FOUND', 'there is nothing here');
  }

  /** Answers after an await: the recorded time must cover it (nats.js 2.x alone times the synchronous call). */
  @MessagePattern(`${P}.slow`)
  async slow(): Promise<string> {
    await new Promise((r) => setTimeout(r, SLOW_MS));
    return 'late';
  }

  @EventPattern(`${P}.evt`)
  evt(): void {
    eventsSeen++;
  }
}

@Module({})
class ProbeModule {
  static forRoot(): DynamicModule {
    return { module: ProbeModule, controllers: [ProbeController] };
  }
}

const ProbeSchema = z.object({
  NATS_URL: envNatsUrls,
  LOG_LEVEL: envLogLevel.default('info'),
  HTTP_PORT: envInt(0, 65535).default(0),
  REDIS_URL: envUrl(['redis']),
  DATA_DIR: z.string().min(1),
});

describe('runService observability', () => {
  let nats: LocalServer;
  let redis: LocalServer;
  let natsDir: string;
  let dataDir: string;
  let app: INestApplicationContext | undefined;
  let nc: NatsConnection;
  let httpPort: number;

  beforeAll(async () => {
    natsDir = mkdtempSync(join(tmpdir(), 'ss-obs-nats-'));
    dataDir = mkdtempSync(join(tmpdir(), 'ss-obs-data-'));
    nats = await startNatsServer(undefined, natsDir);
    redis = await startRedisServer();
    httpPort = await freePort();
    app = await runService(
      { name: 'probe', configSchema: ProbeSchema, module: () => ProbeModule.forRoot() },
      { NATS_URL: nats.url, REDIS_URL: redis.url, DATA_DIR: dataDir, HTTP_PORT: String(httpPort), LOG_LEVEL: 'silent' },
    );
    nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
  });

  afterAll(async () => {
    await nc?.close().catch(() => undefined);
    await app?.close().catch(() => undefined);
    await nats?.stop();
    await redis?.stop();
    rmSync(natsDir, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  });

  const readyz = async () => {
    const r = await httpGet(httpPort, OBSERVABILITY_ROUTES.readiness);
    return { status: r.status, body: JSON.parse(r.body) as { status: string; failing: string[]; checks: Record<string, { status: string; error?: string }> } };
  };
  const metricsText = async () => (await httpGet(httpPort, OBSERVABILITY_ROUTES.metrics)).body;

  it('serves liveness, and readiness with the nats check, the default checks and the service\'s own check', async () => {
    const live = await httpGet(httpPort, OBSERVABILITY_ROUTES.liveness);
    expect(live.status).toBe(200);
    expect(JSON.parse(live.body)).toMatchObject({ status: 'ok', service: 'probe' });
    const r = await waitFor('ready', readyz, (x) => x.status === 200);
    expect(r.body.status).toBe('ready');
    expect(Object.keys(r.body.checks).sort()).toEqual(['custom', 'data-dir-writable', 'nats', 'redis']);
    customUp = false;
    const down = await readyz();
    expect(down.status).toBe(503);
    expect(down.body.failing).toEqual(['custom']);
    expect(down.body.checks.custom.error).toBe('custom is down');
    customUp = true;
    expect((await readyz()).status).toBe(200);
  });

  it('times every NATS handler by subject, kind and outcome', async () => {
    const reply = await nc.request(`${P}.echo`, Buffer.from(JSON.stringify({ hello: 'world' })), { timeout: 5000 });
    expect(JSON.parse(Buffer.from(reply.data).toString())).toEqual({ ok: true, result: { hello: 'world' } });
    const failed = await nc.request(`${P}.fail`, Buffer.from('{}'), { timeout: 5000 });
    expect(JSON.parse(Buffer.from(failed.data).toString())).toEqual({ ok: false, error: { code: 'NOT_FOUND', message: 'there is nothing here' } });
    nc.publish(`${P}.evt`, Buffer.from('{}'));
    await nc.flush();
    await waitFor('event handled', async () => eventsSeen, (n) => n === 1, 5000);
    const text = await waitFor('event recorded', metricsText, (t) => promSample(t, METRIC_NAMES.natsRequests, { subject: `${P}.evt` }) === 1, 5000);
    expect(promSample(text, METRIC_NAMES.natsRequests, { subject: `${P}.echo`, kind: 'request', outcome: 'ok', service: 'probe' })).toBe(1);
    expect(promSample(text, METRIC_NAMES.natsRequests, { subject: `${P}.fail`, kind: 'request', outcome: 'NOT_FOUND' })).toBe(1);
    expect(promSample(text, METRIC_NAMES.natsRequests, { subject: `${P}.evt`, kind: 'event', outcome: 'ok' })).toBe(1);
    expect(promSample(text, `${METRIC_NAMES.natsRequestDuration}_count`, { subject: `${P}.echo`, kind: 'request' })).toBe(1);
    expect(promSample(text, `${METRIC_NAMES.natsRequestDuration}_count`, { subject: `${P}.evt`, kind: 'event' })).toBe(1);
    expect(promSample(text, METRIC_NAMES.natsConnected)).toBe(1);
    expect(promSample(text, METRIC_NAMES.natsReconnects)).toBe(0);
    expect(promSample(text, 'process_cpu_user_seconds_total', { service: 'probe' })).toBeGreaterThan(0);
  });

  it('counts requests once, in the services API: $SRV.STATS and /metrics show the same errors and awaited time', async () => {
    type Ep = { subject: string; num_requests: number; num_errors: number; last_error?: string; processing_time: number; data?: { errors?: Record<string, number> } };
    const srvStats = async () => (JSON.parse(Buffer.from((await nc.request('$SRV.STATS.swarmshare-probe', new Uint8Array(0), { timeout: 5000 })).data).toString()) as { endpoints: Ep[] }).endpoints;
    const failsBefore = (await srvStats()).find((e) => e.subject === `${P}.fail`)!.num_errors;
    await nc.request(`${P}.slow`, Buffer.from('{}'), { timeout: 5000 });
    await nc.request(`${P}.fail`, Buffer.from('{}'), { timeout: 5000 });
    const stats = await srvStats();
    const ep = (subject: string) => stats.find((e) => e.subject === subject)!;
    expect(ep(`${P}.slow`)).toMatchObject({ num_requests: 1, num_errors: 0 });
    expect(ep(`${P}.slow`).processing_time).toBeGreaterThanOrEqual(SLOW_MS * 1e6);
    const fail = ep(`${P}.fail`);
    expect(fail).toMatchObject({ num_errors: failsBefore + 1, last_error: 'NOT_FOUND: there is nothing here', data: { errors: { NOT_FOUND: failsBefore + 1 } } });
    expect(fail.num_requests).toBe(fail.num_errors);
    const text = await metricsText();
    expect(promSample(text, METRIC_NAMES.natsRequests, { subject: `${P}.fail`, kind: 'request', outcome: 'NOT_FOUND' })).toBe(fail.num_requests);
    expect(promSample(text, `${METRIC_NAMES.natsRequestDuration}_count`, { subject: `${P}.slow`, kind: 'request' })).toBe(1);
    expect(promSample(text, `${METRIC_NAMES.natsRequestDuration}_sum`, { subject: `${P}.slow`, kind: 'request' })).toBe(ep(`${P}.slow`).processing_time / 1e9);
  });

  it('turns unready while Redis is stopped and ready again when it returns on the same port', async () => {
    const port = redis.port;
    await redis.stop();
    const down = await waitFor('unready without redis', readyz, (x) => x.status === 503);
    expect(down.body.failing).toEqual(['redis']);
    expect(down.body.checks.redis.error).toMatch(/redis is not connected|ECONNREFUSED|Connection is closed/);
    redis = await startRedisServer(port);
    const up = await waitFor('ready with redis back', readyz, (x) => x.status === 200);
    expect(up.body.checks.redis.status).toBe('up');
  });

  it('turns unready while NATS is down, counts the reconnect, and serves requests again', async () => {
    const port = nats.port;
    await nats.stop();
    const down = await waitFor('unready without nats', readyz, (x) => x.status === 503);
    expect(down.body.failing).toEqual(['nats']);
    expect(down.body.checks.nats.error).toMatch(/NATS is (disconnected|reconnecting)/);
    expect(promSample(await metricsText(), METRIC_NAMES.natsConnected)).toBe(0);
    nats = await startNatsServer(port, natsDir);
    await waitFor('ready with nats back', readyz, (x) => x.status === 200);
    const text = await metricsText();
    expect(promSample(text, METRIC_NAMES.natsReconnects)).toBe(1);
    expect(promSample(text, METRIC_NAMES.natsConnected)).toBe(1);
    const reply = await waitFor(
      'echo after reconnect',
      async () => JSON.parse(Buffer.from((await nc.request(`${P}.echo`, Buffer.from('{"n":2}'), { timeout: 2000 })).data).toString()),
      (x) => x.ok === true,
    );
    expect(reply.result).toEqual({ n: 2 });
  });

  it('stops serving HTTP when the application closes', async () => {
    await app!.close();
    app = undefined;
    await expect(httpGet(httpPort, OBSERVABILITY_ROUTES.liveness)).rejects.toThrow(/ECONNREFUSED/);
  });
});
