import { type DynamicModule, Module } from '@nestjs/common';
import { type Logger, SERVICE_CONFIG, SERVICE_LOGGER, type TrackerConfig } from '@swarmshare/common';
import { Clock } from './clock';
import { connectRedis, REDIS } from './redis.provider';
import { TrackerController } from './tracker.controller';
import { TrackerRepository } from './tracker.repository';
import { TrackerService } from './tracker.service';

@Module({})
export class TrackerModule {
  static forRoot(config: TrackerConfig, logger: Logger): DynamicModule {
    return {
      module: TrackerModule,
      controllers: [TrackerController],
      providers: [
        { provide: SERVICE_CONFIG, useValue: config },
        { provide: SERVICE_LOGGER, useValue: logger },
        // Async: Nest finishes building the module (and runService logs "ready") only once Redis answers.
        { provide: REDIS, useFactory: () => connectRedis(config.REDIS_URL, logger) },
        Clock,
        TrackerRepository,
        TrackerService,
      ],
    };
  }
}
