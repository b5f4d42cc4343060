import { request } from 'node:http';
import { HealthRegistry } from './health-registry';
import { ObservabilityHttpServer } from './http-server';
import { Metrics } from './metrics';
import { OBSERVABILITY_ROUTES } from './routes';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function call(port: number, path: string, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('ObservabilityHttpServer', () => {
  const health = new HealthRegistry();
  const metrics = new Metrics({ service: 'test' });
  const server = new ObservabilityHttpServer(health, metrics, 'test-svc');
  let port: number;

  beforeAll(async () => {
    port = await server.listen(0);
  });
  afterAll(() => server.close());

  it('answers liveness with the process facts', async () => {
    const r = await call(port, OBSERVABILITY_ROUTES.liveness);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json');
    const body = JSON.parse(r.body);
    expect(body).toMatchObject({ status: 'ok', service: 'test-svc', pid: process.pid });
    expect(typeof body.uptimeSeconds).toBe('number');
  });

  it('answers readiness 200 with every check, then 503 naming the failing one', async () => {
    let redisUp = true;
    const remove = health.register('redis', () => (redisUp ? { ping: 'PONG' } : Promise.reject(new Error('connection refused'))));
    health.register('data-dir-writable', () => undefined);
    try {
      let r = await call(port, `${OBSERVABILITY_ROUTES.readiness}?verbose=1`);
      expect(r.status).toBe(200);
      let body = JSON.parse(r.body);
      expect(body.status).toBe('ready');
      expect(body.service).toBe('test-svc');
      expect(body.checks.redis).toMatchObject({ status: 'up', detail: { ping: 'PONG' } });
      expect(body.checks['data-dir-writable'].status).toBe('up');
      redisUp = false;
      r = await call(port, OBSERVABILITY_ROUTES.readiness);
      expect(r.status).toBe(503);
      body = JSON.parse(r.body);
      expect(body.status).toBe('unready');
      expect(body.failing).toEqual(['redis']);
      expect(body.checks.redis).toMatchObject({ status: 'down', error: 'connection refused' });
      expect(body.checks['data-dir-writable'].status).toBe('up');
    } finally {
      remove();
      health.unregister('data-dir-writable');
    }
  });

  it('serves the Prometheus text of the metrics registry', async () => {
    metrics.chunksVerified.inc(7);
    const r = await call(port, OBSERVABILITY_ROUTES.metrics);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe(metrics.contentType);
    expect(r.body).toContain('swarmshare_chunks_verified_total{service="test"} 7');
    expect(r.body).toContain('process_resident_memory_bytes');
  });

  it('answers HEAD without a body, 405 for other methods and 404 for other paths', async () => {
    const head = await call(port, OBSERVABILITY_ROUTES.liveness, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    const post = await call(port, OBSERVABILITY_ROUTES.readiness, 'POST');
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    const missing = await call(port, '/health');
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body).error).toMatch(/no route \/health; try \/healthz, \/readyz, \/metrics/);
  });

  it('refuses a port that is taken, and closes cleanly', async () => {
    const other = new ObservabilityHttpServer(health, metrics);
    await expect(other.listen(port)).rejects.toThrow(/EADDRINUSE/);
    const third = new ObservabilityHttpServer(health, metrics);
    const p = await third.listen(0);
    expect(third.port).toBe(p);
    await third.close();
    await expect(call(p, OBSERVABILITY_ROUTES.liveness)).rejects.toThrow(/ECONNREFUSED/);
    await third.close();
  });
});
