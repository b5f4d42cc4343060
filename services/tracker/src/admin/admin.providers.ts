import type { Provider } from '@nestjs/common';
import { NatsRpc, type TrackerConfig } from '@swarmshare/common';
import type { NatsConnection } from 'nats';
import { CLIENT_NATS } from '../facts/client-nats';
import { AdminService } from './admin.service';

/** What the gRPC admin API needs besides the tracker's own services. The tracker adds these only when GRPC_PORT is set. */
export function adminProviders(config: TrackerConfig): Provider[] {
  return [{ provide: NatsRpc, useFactory: (nc: NatsConnection) => new NatsRpc(nc, config.REQUEST_TIMEOUT_MS), inject: [CLIENT_NATS] }, AdminService];
}
