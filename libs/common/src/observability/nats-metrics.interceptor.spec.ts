import type { CallHandler, ExecutionContext } from '@nestjs/common';
import { PATTERN_METADATA } from '@nestjs/microservices/constants';
import { lastValueFrom, of, throwError } from 'rxjs';
import { SwarmError } from '../errors';
import { Metrics } from './metrics';
import { NatsMetricsInterceptor } from './nats-metrics.interceptor';

function rpcContext(subject: string, data: unknown): ExecutionContext {
  const handler = () => undefined;
  Reflect.defineMetadata(PATTERN_METADATA, [subject], handler);
  return {
    getType: () => 'rpc',
    getHandler: () => handler,
    switchToRpc: () => ({ getContext: () => ({ getSubject: () => subject }), getData: () => data }),
  } as unknown as ExecutionContext;
}

describe('NatsMetricsInterceptor logging', () => {
  const fileId = 'ab'.repeat(32);

  it('logs a failed request at warn with the subject, error code and the file id of its payload', async () => {
    const warn = jest.fn();
    const i = new NatsMetricsInterceptor(new Metrics());
    i.useLogger({ warn, debug: jest.fn() } as never);
    const next: CallHandler = { handle: () => throwError(() => new SwarmError('NOT_FOUND', 'no such file')) };
    await expect(lastValueFrom(i.intercept(rpcContext('swarm.tracker.file.get', { fileId }), next))).rejects.toBeDefined();
    expect(warn).toHaveBeenCalledWith(
      expect.objectContaining({ subject: 'swarm.tracker.file.get', outcome: 'NOT_FOUND', fileId, error: 'no such file' }),
      'request swarm.tracker.file.get failed: NOT_FOUND',
    );
  });

  it('logs a success at debug, taking the file id from a manifest and the sender as peerNodeId', async () => {
    const debug = jest.fn();
    const i = new NatsMetricsInterceptor(new Metrics());
    i.useLogger({ warn: jest.fn(), debug } as never);
    const next: CallHandler = { handle: () => of({ ok: 1 }) };
    await lastValueFrom(i.intercept(rpcContext('swarm.node.a.store.create', { manifest: { fileId }, nodeId: 'b' }), next));
    expect(debug).toHaveBeenCalledWith(expect.objectContaining({ outcome: 'ok', fileId, peerNodeId: 'b' }), 'request swarm.node.a.store.create');
  });
});
