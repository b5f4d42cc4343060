import type { LoggerService } from '@nestjs/common';
import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

export interface LogLimits {
  /** Characters kept of any one string in a log line (LOG_FIELD_MAX_CHARS). */
  maxChars: number;
  /** Items kept of any one array, keys of any one object (LOG_FIELD_MAX_ITEMS). */
  maxItems: number;
}

export const DEFAULT_LOG_LIMITS: LogLimits = { maxChars: 2048, maxItems: 64 };

/** Objects nested deeper than this are logged as "[object]". */
const MAX_LOG_DEPTH = 6;

/**
 * A copy of `value` fit for a log line: strings cut at maxChars, arrays and objects at maxItems
 * (each cut says how much was left out), buffers by their length only, errors as pino shows them
 * (type, message, stack, own fields), cycles and deep nesting cut. Request values reach logs in many
 * places (a payload's file id, an error that quotes the input), so the logger applies this to every
 * line rather than trusting each call site: a 900 KB field makes a 2 KB line, not a 900 KB one.
 */
export function boundLogValue(value: unknown, limits: LogLimits = DEFAULT_LOG_LIMITS, depth = 0, ancestors: object[] = []): unknown {
  if (typeof value === 'string') {
    return value.length > limits.maxChars ? `${value.slice(0, limits.maxChars)}…[${value.length - limits.maxChars} more chars]` : value;
  }
  if (value === null || typeof value !== 'object') return value;
  if (Buffer.isBuffer(value) || ArrayBuffer.isView(value)) return `[${value.constructor.name} of ${value.byteLength} bytes]`;
  if (ancestors.includes(value)) return '[Circular]';
  if (depth >= MAX_LOG_DEPTH) return '[object]';
  const inner = [...ancestors, value];
  const bound = (v: unknown) => boundLogValue(v, limits, depth + 1, inner);
  if (Array.isArray(value)) {
    const out = value.slice(0, limits.maxItems).map(bound);
    if (value.length > limits.maxItems) out.push(`…[${value.length - limits.maxItems} more items]`);
    return out;
  }
  // An error as pino's serializer shows it: type, message, stack, then its own fields (code, ...).
  const source = value instanceof Error ? { type: value.constructor.name, message: value.message, stack: value.stack, ...(value as object) } : value;
  const entries = Object.entries(source);
  const out: Record<string, unknown> = {};
  for (const [k, v] of entries.slice(0, limits.maxItems)) out[boundLogValue(k, limits) as string] = bound(v);
  if (entries.length > limits.maxItems) out['…'] = `${entries.length - limits.maxItems} more keys`;
  return out;
}

/**
 * Structured JSON logs on stdout; every line carries the service and, for node services, the node id.
 * Written synchronously: pino's default buffer is flushed only on the 'exit' event, which a process
 * ended by a signal (Nest re-raises SIGTERM after its shutdown hooks) never emits, so the last lines
 * (the ones that explain a stop) would be lost. The services log little, so this costs nothing.
 * Every field (and the message) goes through boundLogValue: no log line grows with a request.
 */
export function createLogger(
  service: string,
  level = 'info',
  bindings: Record<string, unknown> = {},
  limits: LogLimits = DEFAULT_LOG_LIMITS,
  destination: DestinationStream = pino.destination({ dest: 1, sync: true }),
): Logger {
  const root = pino(
    {
      level,
      base: { service, ...bindings },
      timestamp: pino.stdTimeFunctions.isoTime,
      // boundLogValue has serialized errors already (as pino's serializer would, but bounded).
      serializers: { err: (e: unknown) => e },
      hooks: {
        // Only called for enabled levels: a debug line that is off costs nothing.
        logMethod(args, method) {
          // logger.error(err): kept as pino shows it, `err` with the error's message as the line's.
          const [first, ...rest] = args as unknown[];
          const all = first instanceof Error ? [{ err: first }, ...(rest.length > 0 ? rest : [first.message])] : [first, ...rest];
          return method.apply(this, all.map((a) => boundLogValue(a, limits)) as Parameters<typeof method>);
        },
      },
    },
    destination,
  );
  // Child bindings (logger.child({ fileId })) too; children inherit this, so their children as well.
  const child = root.child;
  root.child = function (this: Logger, b, options) {
    return child.call(this, boundLogValue(b, limits) as typeof b, options);
  } as typeof root.child;
  return root;
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
