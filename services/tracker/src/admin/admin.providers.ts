import type { Provider } from '@nestjs/common';
import { connectNats, NatsRpc, type TrackerConfig } from '@swarmshare/common';
import type { NatsConnection } from 'nats';
import { AdminService } from './admin.service';

export const ADMIN_NATS = Symbol('ADMIN_NATS');

/**
 * What the gRPC admin API needs besides the tracker's own services: a NATS client of its own to ask
 * the nodes (Nest's transport only serves). The tracker adds these only when GRPC_PORT is set.
 */
export function adminProviders(config: TrackerConfig): Provider[] {
  return [
    { provide: ADMIN_NATS, useFactory: () => connectNats(config.NATS_URL, 'tracker-admin-client') },
    { provide: NatsRpc, useFactory: (nc: NatsConnection) => new NatsRpc(nc, config.REQUEST_TIMEOUT_MS), inject: [ADMIN_NATS] },
    AdminService,
  ];
}
