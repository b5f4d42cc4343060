import { Controller, Inject, type Type } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { FileIdRequestSchema, type NodeDeleteReply, nodeAdminSubjects, parseOrThrow } from '@swarmshare/common';
import { FileDeleter } from './file-deleter';

/**
 * The node's admin subjects (`swarm.node.<id>.admin.*`), for the tracker and operators only (NATS
 * permissions grant them to no service user but the tracker: docs/operations.md, "Who may delete").
 */
export function createNodeAdminController(nodeId: string): Type<unknown> {
  const s = nodeAdminSubjects(nodeId);

  @Controller()
  class NodeAdminController {
    constructor(@Inject(FileDeleter) private readonly deleter: FileDeleter) {}

    @MessagePattern(s.delete)
    delete(@Payload() data: unknown): Promise<NodeDeleteReply> {
      return this.deleter.delete(parseOrThrow(FileIdRequestSchema, data, 'delete request').fileId);
    }
  }

  return NodeAdminController;
}
