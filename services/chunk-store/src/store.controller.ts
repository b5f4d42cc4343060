import { Controller, type Type } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import {
  CloseManyRequestSchema,
  type CloseRequest,
  CloseRequestSchema,
  type ManyReply,
  CreateFilePageRequestSchema,
  CreateFileRequestSchema,
  ManifestPageRequestSchema,
  MAX_WHOLE_MANIFEST_HASHES,
  EmptyRequestSchema,
  FileIdRequestSchema,
  ImportAbortRequestSchema,
  ImportBeginRequestSchema,
  ImportCommitRequestSchema,
  LocationManyRequestSchema,
  LocationRequestSchema,
  Metrics,
  parseOrThrow,
  SetPinnedRequestSchema,
  storeSubjects,
  SwarmError,
  toErrorBody,
  VerifyChunksRequestSchema,
  WriterHeartbeatRequestSchema,
} from '@swarmshare/common';
import { ChunkStoreService } from './chunk-store.service';
import { FileImports } from './file-imports';

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
      private readonly imports: FileImports,
    ) {}

    @MessagePattern(s.create)
    create(@Payload() data: unknown) {
      const req = parseOrThrow(CreateFileRequestSchema, data);
      return this.store.createFile(req.manifest, req.share);
    }

    /** A create whose manifest is too large for one message, page by page; the last page creates the file. */
    @MessagePattern(s.createPage)
    createPage(@Payload() data: unknown) {
      const req = parseOrThrow(CreateFilePageRequestSchema, data);
      return this.store.createFilePage(req.page, req.share);
    }

    @MessagePattern(s.location)
    location(@Payload() data: unknown) {
      const { fileId, index, mode, owner } = parseOrThrow(LocationRequestSchema, data);
      return this.store.leaseChunk(fileId, index, mode, owner);
    }

    /** Several leases at once, each with its own verdict (a locked chunk fails only itself). */
    @MessagePattern(s.locationMany)
    locationMany(@Payload() data: unknown) {
      const { leases } = parseOrThrow(LocationManyRequestSchema, data);
      return settleEach(leases.map(({ fileId, index, mode, owner }) => this.store.leaseChunk(fileId, index, mode, owner)));
    }

    /** The gateway's writer session: hello at its start, then heartbeats (see WriterSessions). */
    @MessagePattern(s.writer)
    writer(@Payload() data: unknown) {
      const { owner, hello } = parseOrThrow(WriterHeartbeatRequestSchema, data);
      return this.store.writerHeartbeat(owner, hello);
    }

    @MessagePattern(s.close)
    close(@Payload() data: unknown) {
      return this.closeOne(parseOrThrow(CloseRequestSchema, data));
    }

    /**
     * Several closes at once, each with its own verdict (one bad chunk fails only itself). They run
     * together, so their fsyncs share one group commit.
     */
    @MessagePattern(s.closeMany)
    closeMany(@Payload() data: unknown) {
      const { closes } = parseOrThrow(CloseManyRequestSchema, data);
      return settleEach(closes.map((c) => this.closeOne(c)));
    }

    /** Counts every write close's verdict: verified, or rejected for its hash or length. */
    private async closeOne({ leaseId, written, sha256, abandon }: CloseRequest) {
      try {
        if (abandon) return await this.store.chunkAbandon(leaseId);
        const reply = await this.store.chunkClose(leaseId, written, sha256);
        if (reply.available && written !== undefined) this.metrics.chunksVerified.inc();
        return reply;
      } catch (e) {
        if (e instanceof SwarmError && (e.code === 'HASH_MISMATCH' || e.code === 'BAD_LENGTH')) this.metrics.chunksRejected.inc();
        throw e;
      }
    }

    /** Re-hash chunks from disk; corrupt ones become missing and are counted. */
    @MessagePattern(s.verify)
    async verify(@Payload() data: unknown) {
      const { fileId, indexes } = parseOrThrow(VerifyChunksRequestSchema, data);
      const reply = await this.store.verifyChunks(fileId, indexes);
      this.metrics.chunksCorrupt.inc({ found_by: 'request' }, reply.corrupt.length);
      return reply;
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

    /** The whole manifest, when it fits one message; a larger one only by pages (manifestPage). */
    @MessagePattern(s.manifest)
    async manifest(@Payload() data: unknown) {
      const m = await this.store.manifest(parseOrThrow(FileIdRequestSchema, data).fileId);
      if (m.hashes.length > MAX_WHOLE_MANIFEST_HASHES) {
        throw new SwarmError('TOO_LARGE', `file ${m.fileId.slice(0, 16)} has ${m.hashes.length} chunks, more than one message holds (${MAX_WHOLE_MANIFEST_HASHES}): ask ${s.manifestPage} for it in pages`);
      }
      return m;
    }

    @MessagePattern(s.manifestPage)
    manifestPage(@Payload() data: unknown) {
      const { fileId, from, count } = parseOrThrow(ManifestPageRequestSchema, data);
      return this.store.manifestPage(fileId, from, count);
    }

    /** Only the node's own gateway calls this (it stops its transfers of the file first). */
    @MessagePattern(s.delete)
    delete(@Payload() data: unknown) {
      return this.store.deleteFile(parseOrThrow(FileIdRequestSchema, data).fileId);
    }

    /** Only the node's own gateway calls this (`swarmshare pin|unpin` goes to the node's admin subjects). */
    @MessagePattern(s.pin)
    pin(@Payload() data: unknown) {
      const { fileId, pinned } = parseOrThrow(SetPinnedRequestSchema, data);
      return this.store.setPinned(fileId, pinned);
    }

    /** Local import (file-imports.ts): a staging file in the store's own directory, filled by the caller. */
    @MessagePattern(s.importBegin)
    importBegin(@Payload() data: unknown) {
      return this.imports.begin(parseOrThrow(ImportBeginRequestSchema, data).size);
    }

    /** The store hashes the staged bytes itself and adopts them as the file's data. */
    @MessagePattern(s.importCommit)
    importCommit(@Payload() data: unknown) {
      const { importId, name, chunkSize } = parseOrThrow(ImportCommitRequestSchema, data);
      return this.imports.commit(importId, name, chunkSize);
    }

    @MessagePattern(s.importAbort)
    importAbort(@Payload() data: unknown) {
      return this.imports.abort(parseOrThrow(ImportAbortRequestSchema, data).importId);
    }

    @MessagePattern(s.stats)
    stats(@Payload() data: unknown) {
      parseOrThrow(EmptyRequestSchema, data);
      return this.store.stats();
    }
  }

  return StoreController;
}

/** A `*.many` reply: every request's verdict in the envelope a single request would get, in order. */
async function settleEach<R>(work: Array<Promise<R>>): Promise<ManyReply<R>> {
  const settled = await Promise.allSettled(work);
  return { results: settled.map((r) => (r.status === 'fulfilled' ? { ok: true as const, result: r.value } : { ok: false as const, error: toErrorBody(r.reason) })) };
}
