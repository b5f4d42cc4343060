import type { DynamicModule, INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { z } from 'zod';
import { ConfigError, loadConfig } from './config/load-config';
import { createLogger, type Logger, PinoNestLogger } from './logging';
import { plainJsonNatsOptions } from './nats/connect';
import { SwarmRpcExceptionFilter } from './nats/rpc-exception.filter';

/** Injection tokens every service module can use. */
export const SERVICE_CONFIG = Symbol('SERVICE_CONFIG');
export const SERVICE_LOGGER = Symbol('SERVICE_LOGGER');

/** The log line (`"event":"ready"`) that launchers and tests wait for. */
export const READY_EVENT = 'ready';

export interface ServiceDefinition<S extends z.ZodObject> {
  name: string;
  configSchema: S;
  /** Build the root module from the validated config. */
  module(config: z.infer<S>, logger: Logger): DynamicModule;
  /** NATS queue group for this service's subjects (replicas share the work). */
  queue?(config: z.infer<S>): string | undefined;
  /** Extra fields for the ready log line, e.g. the peer address. */
  readyInfo?(app: INestMicroservice, config: z.infer<S>): Record<string, unknown> | Promise<Record<string, unknown>>;
}

/**
 * Start a service: validate the environment (a bad value exits 1 with a message saying what to fix),
 * connect the plain-JSON NATS transport, and shut down cleanly on SIGTERM/SIGINT.
 */
export async function runService<S extends z.ZodObject>(def: ServiceDefinition<S>, env: NodeJS.ProcessEnv = process.env): Promise<INestMicroservice> {
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
  const cfg = config as { LOG_LEVEL?: string; NODE_ID?: string; NATS_URL: string };
  const logger = createLogger(def.name, cfg.LOG_LEVEL ?? 'info', cfg.NODE_ID ? { nodeId: cfg.NODE_ID } : {});
  const name = cfg.NODE_ID ? `${def.name}-${cfg.NODE_ID}` : def.name;
  const app = await NestFactory.createMicroservice(def.module(config, logger), {
    ...plainJsonNatsOptions(cfg.NATS_URL, name, def.queue?.(config)),
    logger: new PinoNestLogger(logger),
    bufferLogs: false,
  });
  app.useGlobalFilters(new SwarmRpcExceptionFilter());
  app.enableShutdownHooks(['SIGTERM', 'SIGINT']);
  await app.listen();
  const extra = (await def.readyInfo?.(app, config)) ?? {};
  logger.info({ event: READY_EVENT, ...extra }, `${def.name} ready`);
  return app;
}
