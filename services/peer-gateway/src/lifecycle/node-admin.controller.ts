import { Controller, Inject, type Type } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { EmptyRequestSchema, FileIdRequestSchema, type GcReport, type NodeDeleteReply, nodeAdminSubjects, parseOrThrow, type PinReply } from '@swarmshare/common';
import { ChunkStoreClient } from '../storage-io/chunk-store.client';
import { Announcer } from '../tracker/announcer';
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
      @Inject(ChunkStoreClient) private readonly store: ChunkStoreClient,
      @Inject(Announcer) private readonly announcer: Announcer,
    ) {}

    /** `swarmshare pin ID --node N`: watermark GC never evicts the file here (kept on disk with it). */
    @MessagePattern(s.pin)
    pin(@Payload() data: unknown): Promise<PinReply> {
      return this.setPinned(parseOrThrow(FileIdRequestSchema, data, 'pin request').fileId, true);
    }

    @MessagePattern(s.unpin)
    unpin(@Payload() data: unknown): Promise<PinReply> {
      return this.setPinned(parseOrThrow(FileIdRequestSchema, data, 'unpin request').fileId, false);
    }

    /**
     * The tracker learns pins from announces (`ls` reads them there): announce at once, so an `ls`
     * right after the pin shows it. A failed announce does not fail the pin; the next one carries it.
     */
    private async setPinned(fileId: string, pinned: boolean): Promise<PinReply> {
      const reply = await this.store.setPinned(fileId, pinned);
      await this.announcer.announceFresh();
      return reply;
    }

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
