import { Controller, UseFilters, UseGuards } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import type { ServerWritableStream } from '@grpc/grpc-js';
import { ADMIN_SERVICE, GrpcExceptionFilter, PreheatJobRequestSchema, PreheatStartRequestSchema } from '@swarmshare/common';
import { PreheatService } from '../preheat/preheat.service';
import { map, type Observable } from 'rxjs';
import { AdminTokenGuard } from './admin-token.guard';
import { AdminService } from './admin.service';
import { FileDeletionService } from '../deletion/file-deletion.service';
import { DeleteFileRequestSchema, parseOrThrow } from '@swarmshare/common';
import { fileMessage, peerMessage, preheatJobMessage, progressMessage, storedFileMessage } from './to-proto';

/**
 * swarmshare.admin.v1.Admin (libs/common/proto/swarmshare/admin/v1/admin.proto) over gRPC. Every
 * method needs the bearer token (AdminTokenGuard); errors leave as the gRPC status of their swarm
 * error code (GrpcExceptionFilter).
 */
@Controller()
@UseGuards(AdminTokenGuard)
@UseFilters(GrpcExceptionFilter)
export class AdminController {
  constructor(
    private readonly admin: AdminService,
    private readonly deletion: FileDeletionService,
    private readonly preheats: PreheatService,
  ) {}

  @GrpcMethod(ADMIN_SERVICE, 'ListFiles')
  async listFiles() {
    return { files: (await this.admin.listFiles()).map(fileMessage) };
  }

  @GrpcMethod(ADMIN_SERVICE, 'GetFile')
  async getFile(req: { file_id: string }) {
    const r = await this.admin.getFile(req.file_id);
    return { file: fileMessage(r.file), ranges: r.ranges, min_copies: r.minCopies, unreachable: r.unreachable.map((u) => ({ node_id: u.nodeId, reason: u.reason })) };
  }

  @GrpcMethod(ADMIN_SERVICE, 'ListPeers')
  async listPeers() {
    return { peers: (await this.admin.listPeers()).map(peerMessage) };
  }

  @GrpcMethod(ADMIN_SERVICE, 'GetNode')
  async getNode(req: { node_id: string }) {
    const n = await this.admin.getNode(req.node_id);
    return {
      node_id: n.nodeId,
      address: n.info.address,
      connections: n.info.connections,
      space: { capacity: n.stats.capacity, used: n.stats.used, free: n.stats.free },
      files: n.files.map(storedFileMessage),
      transfers: n.transfers.map((s) => progressMessage(n.nodeId, s)),
    };
  }

  /**
   * Server streaming. The call's own writable state is the backpressure signal (see followDownload);
   * Nest writes the Observable to the call, ends it on complete or error, and unsubscribes (which
   * stops following) when the client cancels.
   */
  @GrpcMethod(ADMIN_SERVICE, 'Fetch')
  fetch(req: { node_id: string; file_id: string; discover: string }, _metadata: unknown, call: ServerWritableStream<unknown, unknown>): Observable<unknown> {
    const sink = {
      blocked: () => call.writableNeedDrain,
      onDrain: (cb: () => void) => {
        call.on('drain', cb);
        return () => void call.off('drain', cb);
      },
    };
    return this.admin
      .fetch({ node_id: req.node_id, file_id: req.file_id, ...(req.discover ? { discover: req.discover } : {}) }, sink)
      .pipe(map((s) => progressMessage(req.node_id, s)));
  }

  /** The same as the NATS subject swarm.tracker.admin.file.delete, behind the bearer token. */
  @GrpcMethod(ADMIN_SERVICE, 'DeleteFile')
  async deleteFile(req: { file_id: string; node_id: string; everywhere: boolean }) {
    const r = await this.deletion.delete(
      parseOrThrow(DeleteFileRequestSchema, { fileId: req.file_id, ...(req.node_id ? { nodeId: req.node_id } : {}), ...(req.everywhere ? { everywhere: true } : {}) }, 'DeleteFile request'),
    );
    return {
      file_id: r.fileId,
      everywhere: r.everywhere,
      tombstone: r.tombstone,
      nodes: r.nodes.map((n) => ({ node_id: n.nodeId, deleted: n.deleted, bytes: n.bytes, cancelled: n.cancelled, error: n.error ?? '' })),
    };
  }

  /** The same as swarm.tracker.admin.preheat.start: returns the job at once (follow it with GetPreheat). */
  @GrpcMethod(ADMIN_SERVICE, 'Preheat')
  async preheat(req: { file_id: string; node_ids: string[]; all: boolean; percent: number; concurrency: number }) {
    const job = await this.preheats.start(
      parseOrThrow(
        PreheatStartRequestSchema,
        {
          fileId: req.file_id,
          ...(req.node_ids.length > 0 ? { nodes: req.node_ids } : {}),
          ...(req.all ? { all: true } : {}),
          ...(req.percent ? { percent: req.percent } : {}),
          ...(req.concurrency ? { concurrency: req.concurrency } : {}),
        },
        'Preheat request',
      ),
    );
    return preheatJobMessage(job);
  }

  @GrpcMethod(ADMIN_SERVICE, 'GetPreheat')
  async getPreheat(req: { job_id: string }) {
    return preheatJobMessage(await this.preheats.status(parseOrThrow(PreheatJobRequestSchema, { jobId: req.job_id }, 'GetPreheat request').jobId));
  }

  @GrpcMethod(ADMIN_SERVICE, 'CancelPreheat')
  async cancelPreheat(req: { job_id: string }) {
    return preheatJobMessage(await this.preheats.cancel(parseOrThrow(PreheatJobRequestSchema, { jobId: req.job_id }, 'CancelPreheat request').jobId));
  }
}
