import { Controller, Inject, type Type } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { gatewaySubjects, parseOrThrow, type ReplicateStatus, ReplicateRequestSchema, ReplicateStatusRequestSchema } from '@swarmshare/common';
import { ReplicationsService } from './replicator';

/** The node's replication subjects (docs/flows.md): made per node id, like the gateway controller. */
export function createReplicationController(nodeId: string): Type<unknown> {
  const s = gatewaySubjects(nodeId);

  @Controller()
  class ReplicationController {
    constructor(@Inject(ReplicationsService) private readonly replications: ReplicationsService) {}

    /** Check, then start pushing; answers at once with the upload id (or the refusal: nothing moved). */
    @MessagePattern(s.replicate)
    replicate(@Payload() data: unknown): Promise<ReplicateStatus> {
      return this.replications.replicate(parseOrThrow(ReplicateRequestSchema, data, 'replicate request'));
    }

    @MessagePattern(s.replicateStatus)
    status(@Payload() data: unknown): ReplicateStatus {
      return this.replications.status(parseOrThrow(ReplicateStatusRequestSchema, data, 'replicate status request').uploadId);
    }
  }

  return ReplicationController;
}
