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
import { DownloadsService } from './downloads.service';
import { PeerConnector } from './peer-connector';
import { PeerServer } from './peer-server';

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
    ) {}

    /** Start (or join) the download of a file; returns at once. Progress: status, or the progress events. */
    @MessagePattern(s.fetch)
    fetch(@Payload() data: unknown): DownloadStatus {
      return this.downloads.fetch(parseOrThrow(FetchRequestSchema, data, 'fetch request').fileId);
    }

    @MessagePattern(s.status)
    status(@Payload() data: unknown): DownloadStatus {
      return this.downloads.status(parseOrThrow(FileIdRequestSchema, data, 'status request').fileId);
    }

    @MessagePattern(s.info)
    info(@Payload() data: unknown): GatewayInfo {
      parseOrThrow(EmptyRequestSchema, data, 'info request');
      return { nodeId, address: this.server.address, connections: this.server.connections + this.connector.connections };
    }
  }

  return GatewayController;
}
