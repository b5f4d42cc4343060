import { type CallHandler, type ExecutionContext, Injectable, type NestInterceptor } from '@nestjs/common';
import { Transport } from '@nestjs/microservices';
import { PATTERN_HANDLER_METADATA, PATTERN_METADATA, TRANSPORT_METADATA } from '@nestjs/microservices/constants';
import { PatternHandler } from '@nestjs/microservices/enums/pattern-handler.enum';
import { type Observable, tap, finalize } from 'rxjs';
import { toErrorBody } from '../errors';
import type { Logger } from '../logging';
import { Metrics, type NatsHandlerKind } from './metrics';

/**
 * Times every @MessagePattern / @EventPattern handler. Events are recorded in `Metrics` by subject
 * and outcome ("ok" or the SwarmError code it failed with); requests are not, because the NATS
 * services API counts them (MicroNatsServer) and /metrics reads them from there: one count, not two.
 * runService installs it globally.
 * With a logger, every handled message is also logged (failures at warn, the rest at debug) with
 * the file id and node id from its payload, so one grep follows a file through every service.
 */
@Injectable()
export class NatsMetricsInterceptor implements NestInterceptor {
  private logger?: Logger;

  constructor(private readonly metrics: Metrics) {}

  useLogger(logger: Logger): void {
    this.logger = logger;
  }

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    // NATS handlers only: a hybrid app's gRPC methods (the tracker's admin API) are not NATS traffic.
    if (context.getType() !== 'rpc' || Reflect.getMetadata(TRANSPORT_METADATA, context.getHandler()) === Transport.GRPC) return next.handle();
    const subject = subjectOf(context);
    const kind: NatsHandlerKind = Reflect.getMetadata(PATTERN_HANDLER_METADATA, context.getHandler()) === PatternHandler.EVENT ? 'event' : 'request';
    const started = process.hrtime.bigint();
    let outcome = 'ok';
    let message: string | undefined;
    return next.handle().pipe(
      tap({
        error: (e: unknown) => {
          const body = toErrorBody(e);
          outcome = body.code;
          message = body.message;
        },
      }),
      finalize(() => {
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        if (kind === 'event') this.metrics.observeNatsEvent(subject, outcome, seconds);
        if (!this.logger) return;
        const fields = { subject, kind, outcome, ms: Math.round(seconds * 1000), ...idsOf(context.switchToRpc().getData()) };
        if (outcome === 'ok') this.logger.debug(fields, `${kind} ${subject}`);
        else this.logger.warn({ ...fields, error: message }, `${kind} ${subject} failed: ${outcome}`);
      }),
    );
  }
}

/**
 * The label is the handler's pattern (bounded, even for wildcard subscriptions such as
 * `swarm.evt.>`); when one handler has several patterns, the one that matched.
 */
function subjectOf(context: ExecutionContext): string {
  const rpc = context.switchToRpc().getContext() as { getSubject?: () => string } | undefined;
  const subject = rpc && typeof rpc.getSubject === 'function' ? rpc.getSubject() : undefined;
  const raw = Reflect.getMetadata(PATTERN_METADATA, context.getHandler()) as unknown;
  const patterns = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]).map((p) => (typeof p === 'string' ? p : JSON.stringify(p)));
  if (patterns.length === 1) return patterns[0];
  if (subject !== undefined && (patterns.length === 0 || patterns.includes(subject))) return subject;
  return patterns.join('|') || 'unknown';
}

/** fileId / nodeId of a payload, when it has them (the ids every log line about a file should carry). */
function idsOf(data: unknown): { fileId?: string; peerNodeId?: string } {
  if (!data || typeof data !== 'object') return {};
  const d = data as { fileId?: unknown; nodeId?: unknown; manifest?: { fileId?: unknown } };
  const fileId = typeof d.fileId === 'string' ? d.fileId : typeof d.manifest?.fileId === 'string' ? d.manifest.fileId : undefined;
  return { ...(fileId ? { fileId } : {}), ...(typeof d.nodeId === 'string' ? { peerNodeId: d.nodeId } : {}) };
}
