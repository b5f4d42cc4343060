import { type CallHandler, type ExecutionContext, Injectable, type NestInterceptor } from '@nestjs/common';
import { PATTERN_HANDLER_METADATA, PATTERN_METADATA } from '@nestjs/microservices/constants';
import { PatternHandler } from '@nestjs/microservices/enums/pattern-handler.enum';
import { type Observable, tap, finalize } from 'rxjs';
import { toErrorBody } from '../errors';
import { Metrics, type NatsHandlerKind } from './metrics';

/**
 * Times every @MessagePattern / @EventPattern handler and records it in `Metrics` by subject, kind
 * and outcome ("ok" or the SwarmError code it failed with). runService installs it globally.
 */
@Injectable()
export class NatsMetricsInterceptor implements NestInterceptor {
  constructor(private readonly metrics: Metrics) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'rpc') return next.handle();
    const subject = subjectOf(context);
    const kind: NatsHandlerKind = Reflect.getMetadata(PATTERN_HANDLER_METADATA, context.getHandler()) === PatternHandler.EVENT ? 'event' : 'request';
    const started = process.hrtime.bigint();
    let outcome = 'ok';
    return next.handle().pipe(
      tap({ error: (e: unknown) => (outcome = toErrorBody(e).code) }),
      finalize(() => this.metrics.observeNats(subject, kind, outcome, Number(process.hrtime.bigint() - started) / 1e9)),
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
