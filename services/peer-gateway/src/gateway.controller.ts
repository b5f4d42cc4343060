import { Controller, Inject, type Type } from '@nestjs/common';
import { EventPattern, MessagePattern, Payload } from '@nestjs/microservices';
import {
  ChunksCorruptEventSchema,
  type DownloadStatus,
  EmptyRequestSchema,
  FetchRequestSchema,
  FileIdRequestSchema,
  type GatewayInfo,
  gatewaySubjects,
  parseOrThrow,
  type RepairReply,
  storeSubjects,
  VerifyChunksRequestSchema,
} from '@swarmshare/common';
import { ChunkRepairer } from './repair/chunk-repairer';
import { Discovery } from './discovery/discovery';
import { DownloadsService } from './download/downloads.service';
import { PeerConnector } from './transport/peer-connector';
import { PeerServer } from './transport/peer-server';

/**
 * The node's gateway subjects carry its id, and @MessagePattern needs the subject when the class
 * is defined, so the controller class is made per node id.
 */
export function createGatewayController(nodeId: string): Type<unknown> {
  const s = gatewaySubjects(nodeId);

  @Controller()
  class GatewayController {
    constructor(
      @Inject(DownloadsService) private readonly downloads: DownloadsService,
      @Inject(PeerServer) private readonly server: PeerServer,
      @Inject(PeerConnector) private readonly connector: PeerConnector,
      @Inject(Discovery) private readonly discovery: Discovery,
      @Inject(ChunkRepairer) private readonly repairer: ChunkRepairer,
    ) {}

    /**
     * Re-hash chunks of a file this node holds (all of them when none are named); corrupt ones are
     * fetched again. `fetch -o` asks this when a chunk it read does not match, then waits for the download.
     */
    @MessagePattern(s.repair)
    async repair(@Payload() data: unknown): Promise<RepairReply> {
      const { fileId, indexes } = parseOrThrow(VerifyChunksRequestSchema, data, 'repair request');
      const r = await this.repairer.check(fileId, indexes);
      return r.corrupt.length ? { ...r, download: this.downloads.status(fileId) } : r;
    }

    /** The store found corrupt chunks by itself (scrub): fetch them again. */
    @EventPattern(storeSubjects(nodeId).corrupt)
    corrupt(@Payload() data: unknown): void {
      const e = parseOrThrow(ChunksCorruptEventSchema, data, 'corrupt-chunks event');
      if (e.nodeId === nodeId) this.repairer.found(e.fileId, e.indexes);
    }

    /** Start (or join) the download of a file; returns at once. Progress: status, or the progress events. */
    @MessagePattern(s.fetch)
    async fetch(@Payload() data: unknown): Promise<DownloadStatus> {
      const req = parseOrThrow(FetchRequestSchema, data, 'fetch request');
      // --peers: join the overlay through these first (each dial is bounded by LOOKUP_TIMEOUT_MS).
      if (req.peers?.length) await this.discovery.overlay.addBootstrap(req.peers);
      return req.discover === undefined ? this.downloads.fetch(req.fileId) : this.downloads.fetch(req.fileId, { discover: req.discover });
    }

    @MessagePattern(s.status)
    status(@Payload() data: unknown): DownloadStatus {
      return this.downloads.status(parseOrThrow(FileIdRequestSchema, data, 'status request').fileId);
    }

    @MessagePattern(s.info)
    info(@Payload() data: unknown): GatewayInfo {
      parseOrThrow(EmptyRequestSchema, data, 'info request');
      return { nodeId, address: this.server.address, connections: this.server.connections + this.connector.connections, neighbours: this.discovery.overlay.info() };
    }
  }

  return GatewayController;
}
