import { Controller, Inject, type Type } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import {
  type DownloadStatus,
  EmptyRequestSchema,
  FetchRequestSchema,
  FileIdRequestSchema,
  type GatewayInfo,
  gatewaySubjects,
  parseOrThrow,
} from '@swarmshare/common';
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
    ) {}

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
