import type { BeforeApplicationShutdown, OnApplicationBootstrap, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type { Logger } from '@swarmshare/common';
import type { NatsConnection } from 'nats';
import type { Announcer } from './tracker/announcer';
import type { ChunkRegions } from './storage-io/chunk-regions';
import type { DownloadsService } from './download/downloads.service';
import type { PeerConnector } from './transport/peer-connector';
import type { PeerServer } from './transport/peer-server';
import type { WriterHeartbeat } from './storage-io/writer-heartbeat';

/**
 * Start-up and shutdown in one place, because the order matters: leases are given back while
 * NATS is still connected, and the NATS client closes last.
 */
export class GatewayLifecycle implements OnModuleInit, OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  constructor(
    private readonly parts: {
      server: PeerServer;
      connector: PeerConnector;
      announcer: Announcer;
      downloads: DownloadsService;
      regions: ChunkRegions;
      nats: NatsConnection;
      writer: WriterHeartbeat;
      logger: Logger;
    },
  ) {}

  async onModuleInit(): Promise<void> {
    await this.parts.server.listen();
    this.parts.logger.info({ address: this.parts.server.address, port: this.parts.server.port }, 'peer protocol listening');
  }

  onApplicationBootstrap(): void {
    this.parts.writer.start();
    this.parts.announcer.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    const { server, connector, announcer, downloads, regions, logger } = this.parts;
    const reason = 'gateway shutting down';
    announcer.stop();
    server.stopAccepting();
    // Jobs first: they abandon their write leases as their connections close.
    await downloads.stopAll(reason);
    connector.closeAll(reason);
    server.closeAll(reason);
    await regions.abandonAll();
    this.parts.writer.stop();
    // mmap-io unmaps when a Buffer is collected; every mapping is unreferenced by now.
    (globalThis as { gc?: () => void }).gc?.();
    logger.info('peer gateway stopped');
  }

  async onApplicationShutdown(): Promise<void> {
    await this.parts.nats.drain().catch(() => undefined);
  }
}
