import type { ConsumerDeserializer, IncomingRequest, IncomingEvent, Serializer, OutgoingResponse } from '@nestjs/microservices';
import { toErrorBody } from '../errors';
import { InvalidJson } from '../validate';

/**
 * Nest's NATS transport wraps messages as {pattern, data, id}. Our subjects speak plain JSON so that
 * any NATS client (`nats req`, a Go service, a test with the raw client) can call them:
 *
 *   request: the JSON body itself          reply: {"ok":true,"result":...} | {"ok":false,"error":{code,message}}
 *
 * The deserializer turns a plain message into Nest's packet: a message with a reply subject is a
 * request, one without is an event.
 */
export class PlainJsonDeserializer implements ConsumerDeserializer {
  private seq = 0;

  deserialize(value: Uint8Array, options?: { channel?: string; replyTo?: string }): IncomingRequest | IncomingEvent {
    let data: unknown;
    try {
      data = value.length === 0 ? {} : JSON.parse(Buffer.from(value).toString('utf8'));
    } catch {
      // Let the handler's validation reject it with a clear BAD_REQUEST instead of dropping it here.
      data = new InvalidJson(Buffer.from(value).toString('utf8').slice(0, 200));
    }
    const pattern = options?.channel ?? '';
    if (options?.replyTo) return { pattern, data, id: `r${++this.seq}` };
    return { pattern, data };
  }
}

export class PlainJsonSerializer implements Serializer {
  serialize(packet: OutgoingResponse): { data: Uint8Array; headers?: undefined } {
    const body =
      packet.err !== undefined && packet.err !== null
        ? { ok: false, error: toErrorBody(packet.err) }
        : { ok: true, result: packet.response ?? null };
    return { data: Buffer.from(JSON.stringify(body)) };
  }
}
