import { type Logger, type NodeDeleteReply } from '@swarmshare/common';
import type { DownloadsService } from '../download/downloads.service';
import type { ReplicationsService } from '../replication/replicator';
import type { ChunkRegions } from '../storage-io/chunk-regions';
import type { ChunkStoreClient } from '../storage-io/chunk-store.client';

export interface FileDeleterDeps {
  nodeId: string;
  downloads: Pick<DownloadsService, 'cancelFile'>;
  replications: Pick<ReplicationsService, 'cancelFile'>;
  regions: Pick<ChunkRegions, 'forget'>;
  store: Pick<ChunkStoreClient, 'delete'>;
  /** Tell the tracker at once what this node holds now (best effort; the periodic announce repairs a miss). */
  announce?: () => Promise<unknown>;
  logger?: Logger;
}

/**
 * Deletes a file from this node (issue 14), in the order that leaves nothing half-done: this node's
 * download and replicated uploads of the file stop first (CANCELLED, their write leases given back),
 * the gateway forgets its layout and read mappings and abandons any write still open on the file
 * (a peer pushing a replica hears an error and re-places its share), then the chunk-store removes
 * data, manifest, bitmap and index. A peer reading from us meanwhile gets NOT_FOUND for its next chunk.
 */
export class FileDeleter {
  constructor(private readonly d: FileDeleterDeps) {}

  async delete(fileId: string): Promise<NodeDeleteReply> {
    const reason = `file ${fileId.slice(0, 12)} was deleted from node ${this.d.nodeId}`;
    const [download, uploads] = await Promise.all([this.d.downloads.cancelFile(fileId, reason), this.d.replications.cancelFile(fileId, reason)]);
    await this.d.regions.forget(fileId);
    const r = await this.d.store.delete(fileId);
    // A layout fetched between the two steps would outlive the file: forget once more.
    await this.d.regions.forget(fileId);
    const cancelled = (download ? 1 : 0) + uploads;
    this.d.logger?.info({ event: 'file.deleted', fileId, deleted: r.deleted, bytes: r.bytes, cancelled }, r.deleted ? 'file deleted from this node' : 'delete: this node did not hold the file');
    if (r.deleted) void this.d.announce?.().catch(() => undefined);
    return { ...r, cancelled };
  }
}
