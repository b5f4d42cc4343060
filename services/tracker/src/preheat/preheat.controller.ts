import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { parseOrThrow, type PreheatJob, PreheatJobRequestSchema, PreheatStartRequestSchema, TrackerSubjects } from '@swarmshare/common';
import { PreheatService } from './preheat.service';

/**
 * Preheat over NATS. Operators only: `swarm.tracker.admin.>` is granted to no service user, and a
 * gateway is denied it (libs/common/src/security/nats-users.ts).
 */
@Controller()
export class PreheatController {
  constructor(private readonly preheat: PreheatService) {}

  @MessagePattern(TrackerSubjects.preheatStart)
  start(@Payload() data: unknown): Promise<PreheatJob> {
    return this.preheat.start(parseOrThrow(PreheatStartRequestSchema, data, 'preheat start'));
  }

  @MessagePattern(TrackerSubjects.preheatStatus)
  status(@Payload() data: unknown): Promise<PreheatJob> {
    return this.preheat.status(parseOrThrow(PreheatJobRequestSchema, data, 'preheat status').jobId);
  }

  @MessagePattern(TrackerSubjects.preheatCancel)
  cancel(@Payload() data: unknown): Promise<PreheatJob> {
    return this.preheat.cancel(parseOrThrow(PreheatJobRequestSchema, data, 'preheat cancel').jobId);
  }
}
