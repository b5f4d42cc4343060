import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { HealthRegistry } from './health-registry';
import type { Metrics } from './metrics';
import { OBSERVABILITY_ROUTES } from './routes';

/**
 * The plain node:http server behind HTTP_PORT (the services are Nest microservices, not HTTP apps):
 *
 *   GET /healthz  200 {"status":"ok",...}                    liveness: the event loop answers
 *   GET /readyz   200 {"status":"ready","checks":{...}}      every check passes
 *                 503 {"status":"unready","failing":[...]}   otherwise
 *   GET /metrics  200 Prometheus text
 *
 * HEAD works on every route; anything else is 404 (unknown path) or 405 (other method).
 */
export class ObservabilityHttpServer {
  private server?: Server;
  private loopDelay?: IntervalHistogram;
  private readonly startedAt = Date.now();

  constructor(
    private readonly health: HealthRegistry,
    private readonly metrics: Metrics,
    private readonly service = 'swarmshare',
  ) {}

  /** Listen on port (0 = any free port) on all interfaces; resolves to the bound port. */
  async listen(port: number, host?: string): Promise<number> {
    if (this.server) throw new Error('observability HTTP server already listening');
    const server = createServer((req, res) => void this.handle(req, res));
    server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, host }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.loopDelay = monitorEventLoopDelay({ resolution: 20 });
    this.loopDelay.enable();
    return (server.address() as AddressInfo).port;
  }

  get port(): number | undefined {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a.port : undefined;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.loopDelay?.disable();
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    const routes = Object.values(OBSERVABILITY_ROUTES) as string[];
    try {
      if (!routes.includes(path)) return send(res, req, 404, 'application/json', JSON.stringify({ error: `no route ${path}; try ${routes.join(', ')}` }));
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.setHeader('Allow', 'GET, HEAD');
        return send(res, req, 405, 'application/json', JSON.stringify({ error: `${req.method} not allowed` }));
      }
      if (path === OBSERVABILITY_ROUTES.liveness) {
        const delay = this.loopDelay;
        const body = {
          status: 'ok',
          service: this.service,
          pid: process.pid,
          uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
          eventLoopDelayP99Ms: delay ? Math.round(delay.percentile(99) / 1e4) / 100 : null,
        };
        delay?.reset();
        return send(res, req, 200, 'application/json', JSON.stringify(body));
      }
      if (path === OBSERVABILITY_ROUTES.readiness) {
        const report = await this.health.report();
        return send(res, req, report.status === 'ready' ? 200 : 503, 'application/json', JSON.stringify({ service: this.service, ...report }));
      }
      return send(res, req, 200, this.metrics.contentType, await this.metrics.text());
    } catch (e) {
      return send(res, req, 500, 'application/json', JSON.stringify({ error: (e as Error).message }));
    }
  }
}

function send(res: ServerResponse, req: IncomingMessage, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : body);
}
