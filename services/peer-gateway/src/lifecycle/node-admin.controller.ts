import { Controller, Inject, type Type } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { EmptyRequestSchema, FileIdRequestSchema, type GcReport, type NodeDeleteReply, nodeAdminSubjects, parseOrThrow } from '@swarmshare/common';
import { FileDeleter } from './file-deleter';
import { GarbageCollector } from './garbage-collector';

/**
 * The node's admin subjects (`swarm.node.<id>.admin.*`), for the tracker and operators only (NATS
 * permissions grant them to no service user but the tracker: docs/operations.md, "Who may delete").
 */
export function createNodeAdminController(nodeId: string): Type<unknown> {
  const s = nodeAdminSubjects(nodeId);

  @Controller()
  class NodeAdminController {
    constructor(
      @Inject(FileDeleter) private readonly deleter: FileDeleter,
      @Inject(GarbageCollector) private readonly gc: GarbageCollector,
    ) {}

    /** `swarmshare gc --node N`: one garbage collection now (or the one running). */
    @MessagePattern(s.gc)
    collect(@Payload() data: unknown): Promise<GcReport> {
      parseOrThrow(EmptyRequestSchema, data, 'gc request');
      return this.gc.run('on-demand');
    }

    @MessagePattern(s.delete)
    delete(@Payload() data: unknown): Promise<NodeDeleteReply> {
      return this.deleter.delete(parseOrThrow(FileIdRequestSchema, data, 'delete request').fileId);
    }
  }

  return NodeAdminController;
}
