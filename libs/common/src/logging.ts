import type { LoggerService } from '@nestjs/common';
import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * Structured JSON logs on stdout; every line carries the service and, for node services, the node id.
 * Written synchronously: pino's default buffer is flushed only on the 'exit' event, which a process
 * ended by a signal (Nest re-raises SIGTERM after its shutdown hooks) never emits, so the last lines
 * (the ones that explain a stop) would be lost. The services log little, so this costs nothing.
 */
export function createLogger(service: string, level = 'info', bindings: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { service, ...bindings }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ dest: 1, sync: true }));
}

/** Routes Nest's own logging into pino so there is one log format. */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  log(message: unknown, context?: string): void {
    this.logger.info({ context }, String(message));
  }
  error(message: unknown, trace?: string, context?: string): void {
    this.logger.error({ context, trace }, String(message));
  }
  warn(message: unknown, context?: string): void {
    this.logger.warn({ context }, String(message));
  }
  debug(message: unknown, context?: string): void {
    this.logger.debug({ context }, String(message));
  }
  verbose(message: unknown, context?: string): void {
    this.logger.trace({ context }, String(message));
  }
}
