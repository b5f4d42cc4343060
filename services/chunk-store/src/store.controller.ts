import { Controller, type Type } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import {
  CloseRequestSchema,
  CreateFileRequestSchema,
  EmptyRequestSchema,
  FileIdRequestSchema,
  LocationRequestSchema,
  parseOrThrow,
  storeSubjects,
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
    constructor(private readonly store: ChunkStoreService) {}

    @MessagePattern(s.create)
    create(@Payload() data: unknown) {
      return this.store.createFile(parseOrThrow(CreateFileRequestSchema, data).manifest);
    }

    @MessagePattern(s.location)
    location(@Payload() data: unknown) {
      const { fileId, index, mode } = parseOrThrow(LocationRequestSchema, data);
      return this.store.leaseChunk(fileId, index, mode);
    }

    @MessagePattern(s.close)
    close(@Payload() data: unknown) {
      const { leaseId, written } = parseOrThrow(CloseRequestSchema, data);
      return this.store.chunkClose(leaseId, written);
    }

    @MessagePattern(s.have)
    have(@Payload() data: unknown) {
      return this.store.have(parseOrThrow(FileIdRequestSchema, data).fileId);
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
