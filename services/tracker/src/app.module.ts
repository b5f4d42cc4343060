import { type DynamicModule, Inject, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import type { NatsConnection } from 'nats';
import { connectNats, type Logger, NatsRpc, SERVICE_CONFIG, SERVICE_LOGGER, type TrackerConfig } from '@swarmshare/common';
import { FileDeletionService } from './deletion/file-deletion.service';
import { AdminController } from './admin/admin.controller';
import { adminProviders } from './admin/admin.providers';
import { PreheatController } from './preheat/preheat.controller';
import { preheatProviders } from './preheat/preheat.providers';
import { CLIENT_NATS } from './facts/client-nats';
import { FactsConsumer } from './facts/facts.consumer';
import { Clock } from './clock';
import { connectRedis, REDIS } from './redis.provider';
import { TrackerController } from './tracker.controller';
import { TrackerRepository } from './tracker.repository';
import { TrackerService } from './tracker.service';

/** Drains the tracker's own NATS client after the transports stop. */
@Injectable()
class ClientNatsLifecycle implements OnApplicationShutdown {
  constructor(@Inject(CLIENT_NATS) private readonly nc: NatsConnection) {}
  async onApplicationShutdown(): Promise<void> {
    await this.nc.drain().catch(() => undefined);
  }
}

@Module({})
export class TrackerModule {
  static forRoot(config: TrackerConfig, logger: Logger): DynamicModule {
    // The gRPC admin API (admin/) exists only where GRPC_PORT is set: a NATS-only tracker is unchanged.
    const admin = config.GRPC_PORT > 0;
    return {
      module: TrackerModule,
      controllers: [TrackerController, PreheatController, ...(admin ? [AdminController] : [])],
      providers: [
        { provide: CLIENT_NATS, useFactory: () => connectNats(config.NATS_URL, 'tracker-client', true, config.NATS_CA_FILE) },
        ClientNatsLifecycle,
        FactsConsumer,
        // The tracker asks nodes over NATS (deletes; the admin API's node questions).
        { provide: NatsRpc, useFactory: (nc: NatsConnection) => new NatsRpc(nc, config.REQUEST_TIMEOUT_MS), inject: [CLIENT_NATS] },
        FileDeletionService,
        ...preheatProviders(),
        ...(admin ? adminProviders() : []),
        { provide: SERVICE_CONFIG, useValue: config },
        { provide: SERVICE_LOGGER, useValue: logger },
        // Async: Nest finishes building the module (and runService logs "ready") only once Redis answers.
        { provide: REDIS, useFactory: () => connectRedis(config.REDIS_URL, logger, { caFile: config.REDIS_CA_FILE, commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS }) },
        Clock,
        TrackerRepository,
        TrackerService,
      ],
    };
  }
}
