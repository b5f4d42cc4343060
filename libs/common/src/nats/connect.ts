import { connect, type NatsConnection } from 'nats';
import { Transport, type NatsOptions } from '@nestjs/microservices';
import { PlainJsonDeserializer, PlainJsonSerializer } from './plain-json';

export function natsServers(url: string): string[] {
  return url.split(',').map((s) => s.trim()).filter(Boolean);
}

/**
 * A raw client connection that reconnects forever. Services wait for the server on first connect;
 * a CLI passes waitOnFirstConnect=false so a missing server is an immediate, clear error.
 */
export function connectNats(url: string, name: string, waitOnFirstConnect = true): Promise<NatsConnection> {
  return connect({
    servers: natsServers(url),
    name,
    waitOnFirstConnect,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
  });
}

/** Options for a Nest NATS microservice that speaks plain JSON (see plain-json.ts). */
export function plainJsonNatsOptions(url: string, name: string, queue?: string): NatsOptions {
  return {
    transport: Transport.NATS,
    options: {
      servers: natsServers(url),
      name,
      queue,
      waitOnFirstConnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      // On SIGTERM, drain: finish the requests already received instead of dropping them.
      gracefulShutdown: true,
      gracePeriod: 1000,
      serializer: new PlainJsonSerializer(),
      deserializer: new PlainJsonDeserializer(),
    },
  };
}
