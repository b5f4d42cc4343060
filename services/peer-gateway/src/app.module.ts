import { type DynamicModule, Module } from '@nestjs/common';
import {
  EventSubjects,
  type Logger,
  NatsRpc,
  type PeerGatewayConfig,
  SERVICE_CONFIG,
  SERVICE_LOGGER,
  connectNats,
} from '@swarmshare/common';
import type { NatsConnection } from 'nats';
import { Announcer } from './announcer';
import { ChunkRegions } from './chunk-regions';
import { ChunkStoreClient } from './chunk-store.client';
import { DownloadJob } from './download-job';
import { DownloadsService } from './downloads.service';
import { createGatewayController } from './gateway.controller';
import { GatewayLifecycle } from './gateway.lifecycle';
import { LocalPeerHandler } from './local-peer-handler';
import { PeerConnector } from './peer-connector';
import { PeerServer } from './peer-server';
import { ProgressThrottle } from './progress-throttle';
import { TrackerClient } from './tracker.client';

/** The raw NATS client the gateway uses to call the chunk-store and tracker (Nest's transport only serves). */
export const NATS_CONNECTION = Symbol('NATS_CONNECTION');

@Module({})
export class PeerGatewayModule {
  static forRoot(config: PeerGatewayConfig, logger: Logger): DynamicModule {
    const nodeId = config.NODE_ID;
    return {
      module: PeerGatewayModule,
      controllers: [createGatewayController(nodeId)],
      providers: [
        { provide: SERVICE_CONFIG, useValue: config },
        { provide: SERVICE_LOGGER, useValue: logger },
        { provide: NATS_CONNECTION, useFactory: () => connectNats(config.NATS_URL, `peer-gateway-${nodeId}-client`) },
        { provide: NatsRpc, useFactory: (nc: NatsConnection) => new NatsRpc(nc, config.REQUEST_TIMEOUT_MS), inject: [NATS_CONNECTION] },
        { provide: ChunkStoreClient, useFactory: (rpc: NatsRpc) => new ChunkStoreClient(rpc, nodeId), inject: [NatsRpc] },
        { provide: TrackerClient, useFactory: (rpc: NatsRpc) => new TrackerClient(rpc), inject: [NatsRpc] },
        { provide: ChunkRegions, useFactory: (store: ChunkStoreClient) => new ChunkRegions(store, config.DATA_DIR, logger), inject: [ChunkStoreClient] },
        { provide: LocalPeerHandler, useFactory: (store: ChunkStoreClient, regions: ChunkRegions) => new LocalPeerHandler(store, regions), inject: [ChunkStoreClient, ChunkRegions] },
        {
          provide: PeerServer,
          useFactory: (handler: LocalPeerHandler) =>
            new PeerServer({
              nodeId,
              host: config.PEER_HOST,
              port: config.PEER_PORT,
              advertise: config.ADVERTISE_ADDRESS,
              maxConnections: config.MAX_CONNECTIONS,
              handler,
              logger,
            }),
          inject: [LocalPeerHandler],
        },
        {
          provide: PeerConnector,
          useFactory: (server: PeerServer, handler: LocalPeerHandler) => new PeerConnector({ nodeId, listen: () => server.address, handler, logger }),
          inject: [PeerServer, LocalPeerHandler],
        },
        {
          provide: DownloadsService,
          useFactory: (rpc: NatsRpc, tracker: TrackerClient, store: ChunkStoreClient, regions: ChunkRegions, connector: PeerConnector) =>
            new DownloadsService((fileId) => {
              const progress = new ProgressThrottle((s) => {
                try {
                  rpc.publish(EventSubjects.downloadProgress, { ...s, nodeId });
                } catch (e) {
                  // Progress is best effort (NATS may be reconnecting or closing); status has the truth.
                  logger.debug({ err: (e as Error).message }, 'could not publish download progress');
                }
              });
              return new DownloadJob(fileId, {
                nodeId,
                tracker,
                store,
                regions,
                connect: (address, expect) => connector.connect(address, expect),
                onProgress: (s, final) => progress.update(s, final),
                pipelineDepth: config.PIPELINE_DEPTH,
                maxPeers: config.MAX_PEERS_PER_DOWNLOAD,
                logger: logger.child({ fileId }),
              });
            }, logger),
          inject: [NatsRpc, TrackerClient, ChunkStoreClient, ChunkRegions, PeerConnector],
        },
        {
          provide: Announcer,
          useFactory: (store: ChunkStoreClient, tracker: TrackerClient, server: PeerServer) =>
            new Announcer(store, tracker, { nodeId, address: () => server.address, intervalMs: config.ANNOUNCE_INTERVAL_MS, logger }),
          inject: [ChunkStoreClient, TrackerClient, PeerServer],
        },
        {
          provide: GatewayLifecycle,
          useFactory: (server, connector, announcer, downloads, regions, nats) => new GatewayLifecycle({ server, connector, announcer, downloads, regions, nats, logger }),
          inject: [PeerServer, PeerConnector, Announcer, DownloadsService, ChunkRegions, NATS_CONNECTION],
        },
      ],
    };
  }
}
