import { ErrorCode as NatsErrorCode, type NatsConnection, type Subscription } from 'nats';
import type { z } from 'zod';
import { SwarmError } from '../errors';
import { describeZodError } from '../schemas';

/** Nothing subscribes to the subject: the service is not running (or not connected), as opposed to one that answered with an error. */
export class NoResponderError extends SwarmError {
  constructor(subject: string) {
    super('UNAVAILABLE', `nothing answers on ${subject}: is that service running and connected to NATS?`);
  }
}

/**
 * Request/reply and publish over a raw NATS connection, with a timeout on every request and the
 * reply validated against a schema. Used by services calling each other and by the CLI.
 */
export class NatsRpc {
  constructor(
    readonly nc: NatsConnection,
    private readonly timeoutMs = 5000,
  ) {}

  async request<S extends z.ZodType>(subject: string, body: unknown, resultSchema: S, timeoutMs = this.timeoutMs): Promise<z.infer<S>> {
    let raw: Uint8Array;
    try {
      const msg = await this.nc.request(subject, Buffer.from(JSON.stringify(body ?? {})), { timeout: timeoutMs });
      raw = msg.data;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === NatsErrorCode.NoResponders) {
        throw new NoResponderError(subject);
      }
      if (code === NatsErrorCode.Timeout) {
        throw new SwarmError('TIMEOUT', `no reply on ${subject} within ${timeoutMs} ms: the service may be overloaded or stuck`);
      }
      throw new SwarmError('UNAVAILABLE', `request on ${subject} failed: ${(err as Error).message}`);
    }
    let reply: { ok?: boolean; result?: unknown; error?: { code: string; message: string } };
    try {
      reply = JSON.parse(Buffer.from(raw).toString('utf8'));
    } catch {
      throw new SwarmError('PROTOCOL', `reply on ${subject} is not JSON`);
    }
    if (reply.ok === false && reply.error) throw SwarmError.from(reply.error as { code: never; message: string });
    if (reply.ok !== true) throw new SwarmError('PROTOCOL', `reply on ${subject} has no ok/result envelope`);
    const parsed = resultSchema.safeParse(reply.result);
    if (!parsed.success) throw new SwarmError('PROTOCOL', `reply on ${subject} is malformed: ${describeZodError(parsed.error)}`);
    return parsed.data;
  }

  publish(subject: string, body: unknown): void {
    this.nc.publish(subject, Buffer.from(JSON.stringify(body)));
  }

  /** Subscribe to JSON events; messages that fail the schema are handed to onInvalid instead. */
  subscribe<S extends z.ZodType>(subject: string, schema: S, handler: (event: z.infer<S>, subject: string) => void, onInvalid?: (reason: string) => void): Subscription {
    return this.nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err) return onInvalid?.(err.message);
        let data: unknown;
        try {
          data = JSON.parse(Buffer.from(msg.data).toString('utf8'));
        } catch {
          return onInvalid?.(`event on ${msg.subject} is not JSON`);
        }
        const r = schema.safeParse(data);
        if (!r.success) return onInvalid?.(`event on ${msg.subject}: ${describeZodError(r.error)}`);
        handler(r.data, msg.subject);
      },
    });
  }
}
