import { natsServerOptions, NO_ASYNC_TRACES, RECONNECT_FOREVER } from './client';
import { type CustomStrategy, Transport, type NatsOptions } from '@nestjs/microservices';
import { MicroNatsServer, type MicroServiceInfo } from './micro-server';
import { PlainJsonDeserializer, PlainJsonSerializer } from './plain-json';

export { type NatsServerOptions, natsServerOptions, connectNats, RECONNECT_FOREVER } from './client';

/** Options for a Nest NATS microservice that speaks plain JSON (see plain-json.ts). */
export function plainJsonNatsOptions(url: string, name: string, queue?: string, caFile?: string): NatsOptions {
  return {
    transport: Transport.NATS,
    options: {
      ...natsServerOptions(url, caFile),
      name,
      queue,
      waitOnFirstConnect: true,
      ...RECONNECT_FOREVER,
      ...NO_ASYNC_TRACES,
      // On SIGTERM, drain: finish the requests already received instead of dropping them.
      gracefulShutdown: true,
      gracePeriod: 1000,
      serializer: new PlainJsonSerializer(),
      deserializer: new PlainJsonDeserializer(),
    },
  };
}

/** The same transport, serving its request subjects as endpoints of a NATS micro service (see MicroNatsServer). */
export function microNatsOptions(url: string, name: string, queue: string | undefined, info: MicroServiceInfo, caFile?: string): CustomStrategy {
  return { strategy: new MicroNatsServer(plainJsonNatsOptions(url, name, queue, caFile).options!, info) };
}
