import { Inject, Injectable } from '@nestjs/common';
import {
  type DeleteFileReply,
  type DeleteFileRequest,
  type Logger,
  NatsRpc,
  nodeAdminSubjects,
  NodeDeleteReplySchema,
  SERVICE_LOGGER,
  SwarmError,
  toErrorBody,
} from '@swarmshare/common';
import { Clock } from '../clock';
import { TrackerRepository } from '../tracker.repository';
import { TrackerService } from '../tracker.service';

/** Holders asked at once by one `everywhere` delete (each ask is bounded by REQUEST_TIMEOUT_MS). */
const DELETE_CONCURRENCY = 16;

type NodeResult = DeleteFileReply['nodes'][number];

/**
 * Deletes files for operators (issue 14): from one node, or everywhere. The tracker's view changes
 * at once (not at the next announce). Everywhere: the tombstone goes first, so a holder announcing
 * meanwhile is told to delete rather than register the file again; then the record goes; then every
 * holder is asked. A holder that does not answer deletes its copy when it next announces (the
 * tombstone, kept TOMBSTONE_TTL_MS).
 */
@Injectable()
export class FileDeletionService {
  constructor(
    private readonly repo: TrackerRepository,
    private readonly tracker: TrackerService,
    private readonly rpc: NatsRpc,
    private readonly clock: Clock,
    @Inject(SERVICE_LOGGER) private readonly logger: Logger,
  ) {}

  async delete(req: DeleteFileRequest): Promise<DeleteFileReply> {
    return req.nodeId !== undefined ? this.fromNode(req.fileId, req.nodeId) : this.everywhere(req.fileId);
  }

  /** One node: it must answer (UNAVAILABLE otherwise); the file stays registered with its other holders. */
  private async fromNode(fileId: string, nodeId: string): Promise<DeleteFileReply> {
    let r;
    try {
      r = await this.rpc.request(nodeAdminSubjects(nodeId).delete, { fileId }, NodeDeleteReplySchema);
    } catch (e) {
      if (e instanceof SwarmError && (e.code === 'TIMEOUT' || e.code === 'UNAVAILABLE')) {
        throw new SwarmError('UNAVAILABLE', `node ${nodeId} did not answer the delete (${e.message}): is it running? Nothing was deleted there`);
      }
      throw e;
    }
    await this.repo.dropFromSwarm(fileId, [nodeId]);
    await this.repo.forgetHeld(nodeId, fileId);
    this.logger.info({ event: 'file.deleted.node', fileId, nodeId, deleted: r.deleted, bytes: r.bytes, cancelled: r.cancelled }, 'file deleted from one node');
    return { fileId, everywhere: false, tombstone: false, nodes: [{ nodeId, deleted: r.deleted, bytes: r.bytes, cancelled: r.cancelled }] };
  }

  private async everywhere(fileId: string): Promise<DeleteFileReply> {
    const holders = await this.repo.members(fileId);
    const registered = (await this.repo.readFile(fileId)) !== null;
    if (!registered && holders.length === 0 && !(await this.tracker.isTombstoned(fileId))) {
      throw new SwarmError('NOT_FOUND', `no file with id ${fileId} is registered with the tracker: nothing to delete (a node's own copy: rm --node)`);
    }
    // Live peers that hold it without being listed (a partial holder) are found by their next announce.
    await this.repo.setTombstone(fileId, this.clock.now());
    await this.repo.removeFile(fileId);
    const nodes: NodeResult[] = [];
    for (let i = 0; i < holders.length; i += DELETE_CONCURRENCY) {
      nodes.push(...(await Promise.all(holders.slice(i, i + DELETE_CONCURRENCY).map((n) => this.askNode(fileId, n)))));
    }
    const pending = nodes.filter((n) => n.error !== undefined).map((n) => n.nodeId);
    this.logger.info({ event: 'file.deleted.everywhere', fileId, holders, pending }, pending.length > 0 ? 'file deleted everywhere; some holders delete it when they announce again' : 'file deleted everywhere');
    return { fileId, everywhere: true, tombstone: true, nodes };
  }

  private async askNode(fileId: string, nodeId: string): Promise<NodeResult> {
    try {
      const r = await this.rpc.request(nodeAdminSubjects(nodeId).delete, { fileId }, NodeDeleteReplySchema);
      await this.repo.forgetHeld(nodeId, fileId);
      return { nodeId, deleted: r.deleted, bytes: r.bytes, cancelled: r.cancelled };
    } catch (e) {
      return { nodeId, deleted: false, bytes: 0, cancelled: 0, error: `${toErrorBody(e).message}: it deletes its copy when it announces again` };
    }
  }
}
