import { type DynamicModule, type INestApplication, type INestApplicationContext, type INestMicroservice, Module } from '@nestjs/common';
import type { MicroserviceOptions } from '@nestjs/microservices';
import { NestFactory } from '@nestjs/core';
import type { NatsConnection } from 'nats';
import type { z } from 'zod';
import { ConfigError, loadConfig } from './config/load-config';
import { createLogger, DEFAULT_LOG_LIMITS, type Logger, PinoNestLogger } from './logging';
import { microNatsOptions } from './nats/connect';
import type { MicroNatsServer } from './nats/micro-server';
import { SWARMSHARE_VERSION } from './version';
import { SwarmRpcExceptionFilter } from './nats/rpc-exception.filter';
import { dataDirWritableCheck, redisPingCheck, tcpListeningCheck } from './observability/default-checks';
import { HealthRegistry } from './observability/health-registry';
import { ObservabilityHttpServer } from './observability/http-server';
import { Metrics } from './observability/metrics';
import { NatsMetricsInterceptor } from './observability/nats-metrics.interceptor';
import { trackNatsStatus } from './observability/nats-status';
import { ObservabilityLifecycle, ObservabilityModule } from './observability/observability.module';

/** Injection tokens every service module can use. */
export const SERVICE_CONFIG = Symbol('SERVICE_CONFIG');
export const SERVICE_LOGGER = Symbol('SERVICE_LOGGER');

/** The log line (`"event":"ready"`) that launchers and tests wait for. */
export const READY_EVENT = 'ready';

export interface ServiceDefinition<S extends z.ZodObject> {
  name: string;
  /** One sentence for the NATS services API ($SRV.INFO, `nats micro ls`). */
  description?: string;
  configSchema: S;
  /** Build the root module from the validated config. */
  module(config: z.infer<S>, logger: Logger): DynamicModule;
  /** NATS queue group for this service's subjects (replicas share the work). */
  queue?(config: z.infer<S>): string | undefined;
  /** Extra fields for the ready log line, e.g. the peer address. */
  readyInfo?(app: INestApplicationContext, config: z.infer<S>): Record<string, unknown> | Promise<Record<string, unknown>>;
  /**
   * A second transport served by the same process and module (a Nest hybrid application), e.g. the
   * tracker's gRPC admin API; undefined = NATS only. The returned function builds its options once
   * the module's providers exist.
   */
  extraTransport?(config: z.infer<S>, logger: Logger): ((app: INestApplicationContext) => MicroserviceOptions) | undefined;
}

/** The root module runService builds: the service's own module beside the global ObservabilityModule. */
@Module({})
class SwarmServiceRootModule {}

/**
 * Start a service: validate the environment (a bad value exits 1 with a message saying what to fix),
 * connect the plain-JSON NATS transport, and shut down cleanly on SIGTERM/SIGINT.
 *
 * Observability (libs/common/src/observability): every service gets a global HealthRegistry and
 * Metrics to inject; a 'nats' readiness check fed by the transport's status (reconnects counted);
 * default 'redis' / 'data-dir-writable' / 'peer-port' checks from its config keys (a check the service
 * registers under the same name replaces them); every NATS request counted and timed by the services API (/metrics reads its stats). With
 * HTTP_PORT > 0, /healthz, /readyz and /metrics are served from before the NATS connection is made
 * (so liveness answers while NATS is still unreachable) until shutdown, and the ready log line
 * carries `httpPort`.
 */
export async function runService<S extends z.ZodObject>(def: ServiceDefinition<S>, env: NodeJS.ProcessEnv = process.env): Promise<INestMicroservice | INestApplication> {
  let config: z.infer<S>;
  try {
    config = loadConfig(def.name, def.configSchema, env);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\n`);
      process.exit(1);
    }
    throw e;
  }
  const cfg = config as { LOG_LEVEL?: string; LOG_FIELD_MAX_CHARS?: number; LOG_FIELD_MAX_ITEMS?: number; NODE_ID?: string; NATS_URL: string; NATS_CA_FILE?: string; HTTP_PORT?: number; REDIS_URL?: string; REDIS_CA_FILE?: string; REDIS_COMMAND_TIMEOUT_MS?: number; DATA_DIR?: string; PEER_PORT?: number; PEER_HOST?: string };
  const logger = createLogger(def.name, cfg.LOG_LEVEL ?? 'info', cfg.NODE_ID ? { nodeId: cfg.NODE_ID } : {}, {
    maxChars: cfg.LOG_FIELD_MAX_CHARS ?? DEFAULT_LOG_LIMITS.maxChars,
    maxItems: cfg.LOG_FIELD_MAX_ITEMS ?? DEFAULT_LOG_LIMITS.maxItems,
  });
  const name = cfg.NODE_ID ? `${def.name}-${cfg.NODE_ID}` : def.name;
  const root: DynamicModule = {
    module: SwarmServiceRootModule,
    imports: [ObservabilityModule.forRoot({ service: def.name, nodeId: cfg.NODE_ID }), def.module(config, logger)],
  };
  // Every request subject is an endpoint of the NATS micro service `swarmshare-<service>`.
  const natsOptions = microNatsOptions(cfg.NATS_URL, name, def.queue?.(config), {
    name: `swarmshare-${def.name}`,
    version: SWARMSHARE_VERSION,
    description: def.description ?? `Swarmshare ${def.name}`,
    metadata: cfg.NODE_ID ? { node_id: cfg.NODE_ID } : {},
  }, cfg.NATS_CA_FILE);
  const nestLogger = new PinoNestLogger(logger);
  let app: INestMicroservice | INestApplication;
  let nats: INestMicroservice;
  let hybrid: INestApplication | undefined;
  const extraTransport = def.extraTransport?.(config, logger);
  if (extraTransport) {
    // A hybrid application: one module, served on NATS and on the extra transport. Its HTTP adapter
    // never listens (/healthz and friends are ObservabilityHttpServer's, below).
    hybrid = await NestFactory.create(root, { logger: nestLogger, bufferLogs: false });
    app = hybrid;
  } else {
    nats = await NestFactory.createMicroservice(root, { ...natsOptions, logger: nestLogger, bufferLogs: false });
    app = nats;
  }
  // Global filters and interceptors first: a hybrid app's transports inherit them when connected.
  app.useGlobalFilters(new SwarmRpcExceptionFilter());
  const health = app.get(HealthRegistry);
  const metrics = app.get(Metrics);
  const lifecycle = app.get(ObservabilityLifecycle);
  // Request counts, errors and times are the micro service's endpoint stats; /metrics reads them there.
  metrics.useRequestStats(() => (natsOptions.strategy as MicroNatsServer).requestStats());
  const interceptor = app.get(NatsMetricsInterceptor);
  interceptor.useLogger(logger);
  app.useGlobalInterceptors(interceptor);
  if (hybrid) {
    nats = hybrid.connectMicroservice(natsOptions, { inheritAppConfig: true });
    hybrid.connectMicroservice(extraTransport!(hybrid), { inheritAppConfig: true });
  }
  const natsStatus = trackNatsStatus(nats!.status, health, metrics);
  lifecycle.onShutdown(() => natsStatus.unsubscribe());
  app.enableShutdownHooks(['SIGTERM', 'SIGINT']);
  registerDefaultChecks(cfg, health, lifecycle, name);
  let httpPort: number | undefined;
  if (cfg.HTTP_PORT && cfg.HTTP_PORT > 0) {
    // Before listen(): liveness answers (and readiness says why not) while NATS is still unreachable
    // and while the service's init hooks run.
    const http = new ObservabilityHttpServer(health, metrics, name);
    try {
      httpPort = await http.listen(cfg.HTTP_PORT);
    } catch (e) {
      throw new Error(`cannot serve /healthz, /readyz, /metrics on HTTP_PORT=${cfg.HTTP_PORT}: ${(e as Error).message} (pick a free port, or 0 to turn the HTTP server off)`);
    }
    lifecycle.onShutdown(() => http.close());
  }
  if (hybrid) {
    await hybrid.init();
    await hybrid.startAllMicroservices();
  } else {
    await nats!.listen();
  }
  // listen() returns once the SUBs are written, not once the server has them: a request sent right
  // after "ready" could meet "no responders". A flush (PING/PONG) proves every SUB is registered.
  await nats!.unwrap<NatsConnection>().flush();
  const extra = (await def.readyInfo?.(app, config)) ?? {};
  logger.info({ event: READY_EVENT, ...(httpPort !== undefined ? { httpPort } : {}), ...extra }, `${def.name} ready`);
  return app;
}

/**
 * The readiness checks a service gets from its config keys. A service that registers a check of the
 * same name (in its constructor, or later: register() replaces) has its own used instead.
 */
function registerDefaultChecks(
  cfg: { REDIS_URL?: string; REDIS_CA_FILE?: string; REDIS_COMMAND_TIMEOUT_MS?: number; DATA_DIR?: string; PEER_PORT?: number; PEER_HOST?: string },
  health: HealthRegistry,
  lifecycle: ObservabilityLifecycle,
  tag: string,
): void {
  if (cfg.REDIS_URL && !health.has('redis')) {
    const redis = redisPingCheck(cfg.REDIS_URL, cfg.REDIS_CA_FILE, cfg.REDIS_COMMAND_TIMEOUT_MS);
    health.register('redis', redis.check);
    lifecycle.onShutdown(redis.close);
  }
  if (cfg.DATA_DIR) health.registerIfAbsent('data-dir-writable', dataDirWritableCheck(cfg.DATA_DIR, tag));
  if (cfg.PEER_PORT && cfg.PEER_PORT > 0) health.registerIfAbsent('peer-port', tcpListeningCheck(cfg.PEER_PORT, cfg.PEER_HOST));
}
