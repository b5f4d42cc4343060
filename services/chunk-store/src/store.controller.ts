import { Controller, type Type } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import {
  CloseRequestSchema,
  CreateFileRequestSchema,
  EmptyRequestSchema,
  FileIdRequestSchema,
  LocationRequestSchema,
  Metrics,
  parseOrThrow,
  storeSubjects,
  SwarmError,
} from '@swarmshare/common';
import { ChunkStoreService } from './chunk-store.service';

/**
 * The node's store subjects carry its id, and @MessagePattern needs the subject when the class is
 * defined, so the controller class is made per node id.
 */
export function createStoreController(nodeId: string): Type<unknown> {
  const s = storeSubjects(nodeId);

  @Controller()
  class StoreController {
    constructor(
      private readonly store: ChunkStoreService,
      private readonly metrics: Metrics,
    ) {}

    @MessagePattern(s.create)
    create(@Payload() data: unknown) {
      return this.store.createFile(parseOrThrow(CreateFileRequestSchema, data).manifest);
    }

    @MessagePattern(s.location)
    location(@Payload() data: unknown) {
      const { fileId, index, mode } = parseOrThrow(LocationRequestSchema, data);
      return this.store.leaseChunk(fileId, index, mode);
    }

    /** Counts every write close's verdict: verified, or rejected for its hash or length. */
    @MessagePattern(s.close)
    async close(@Payload() data: unknown) {
      const { leaseId, written, sha256 } = parseOrThrow(CloseRequestSchema, data);
      try {
        const reply = await this.store.chunkClose(leaseId, written, sha256);
        if (reply.available && written !== undefined) this.metrics.chunksVerified.inc();
        return reply;
      } catch (e) {
        if (e instanceof SwarmError && (e.code === 'HASH_MISMATCH' || e.code === 'BAD_LENGTH')) this.metrics.chunksRejected.inc();
        throw e;
      }
    }

    @MessagePattern(s.have)
    have(@Payload() data: unknown) {
      return this.store.have(parseOrThrow(FileIdRequestSchema, data).fileId);
    }

    @MessagePattern(s.layout)
    layout(@Payload() data: unknown) {
      return this.store.layout(parseOrThrow(FileIdRequestSchema, data).fileId);
    }

    @MessagePattern(s.files)
    files(@Payload() data: unknown) {
      parseOrThrow(EmptyRequestSchema, data);
      return this.store.files();
    }

    @MessagePattern(s.manifest)
    manifest(@Payload() data: unknown) {
      return this.store.manifest(parseOrThrow(FileIdRequestSchema, data).fileId);
    }

    @MessagePattern(s.stats)
    stats(@Payload() data: unknown) {
      parseOrThrow(EmptyRequestSchema, data);
      return this.store.stats();
    }
  }

  return StoreController;
}
