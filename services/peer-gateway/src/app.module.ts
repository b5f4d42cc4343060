import { type DynamicModule, Module } from '@nestjs/common';
import {
  connectNats,
  downloadProgressSubject,
  EventSubjects,
  FactPublisher,
  HAVE_UPDATES_FEATURE,
  type Logger,
  Metrics,
  NatsRpc,
  type PeerGatewayConfig,
  type PeerTlsMaterial,
  loadPeerTls,
  PeerRecordSchema,
  SERVICE_CONFIG,
  SERVICE_LOGGER,
  TrackerSubjects,
  TRY_PEERS_FEATURE,
} from '@swarmshare/common';
import type { NatsConnection } from 'nats';
import { Announcer } from './tracker/announcer';
import { ChunkRegions } from './storage-io/chunk-regions';
import { ChunkStoreClient } from './storage-io/chunk-store.client';
import { WriterHeartbeat } from './storage-io/writer-heartbeat';
import { DownloadJob } from './download/download-job';
import { holdersOf } from './download/holder-pool';
import { DownloadsService } from './download/downloads.service';
import { HaveUpdates } from './serve/have-updates';
import { createGatewayController } from './gateway.controller';
import { GatewayLifecycle } from './gateway.lifecycle';
import { LocalPeerHandler } from './serve/local-peer-handler';
import { ChunkRepairer } from './repair/chunk-repairer';
import { PeerConnector } from './transport/peer-connector';
import { PeerServer } from './transport/peer-server';
import { ProgressThrottle } from './download/progress-throttle';
import { SuperSeeder } from './serve/super-seed';
import { TrackerClient } from './tracker/tracker.client';
import { ReRegistrar } from './tracker/re-registrar';
import { limiterFor } from './transport/token-bucket';
import { UploadGate, UploadSlots } from './transport/upload-slots';
import { ConnectionExtensions } from './transport/connection-extensions';
import { AutoHolderSource, Discovery } from './discovery/discovery';
import { z } from 'zod';
import { ReplicationJob, ReplicationsService } from './replication/replicator';
import { createReplicationController } from './replication/replication.controller';
import { FileDeleter } from './lifecycle/file-deleter';
import { GarbageCollector } from './lifecycle/garbage-collector';
import { stat } from 'node:fs/promises';
import { createNodeAdminController } from './lifecycle/node-admin.controller';

/** How often the gateway tells its chunk-store it is alive (well inside the store's WRITER_TIMEOUT_MS). */
const WRITER_HEARTBEAT_MS = 1000;

/** The raw NATS client the gateway uses to call the chunk-store and tracker (Nest's transport only serves). */
export const NATS_CONNECTION = Symbol('NATS_CONNECTION');

/**
 * The node's peer TLS material (PEER_TLS=on): its certificate must name this node, or peers would
 * refuse every HELLO. PEER_TLS=off is an explicit opt-out and says so in the log.
 */
function peerTlsFor(config: PeerGatewayConfig, logger: Logger): PeerTlsMaterial | undefined {
  if (config.PEER_TLS === 'off') {
    logger.warn({ event: 'peer-tls-off' }, 'PEER_TLS=off: the peer port accepts unauthenticated, unencrypted peers; anyone who reaches it can read and offer files');
    return undefined;
  }
  const tls = loadPeerTls({ ca: config.PEER_TLS_CA!, cert: config.PEER_TLS_CERT!, key: config.PEER_TLS_KEY! });
  if (tls.identity !== config.NODE_ID) {
    throw new Error(`PEER_TLS_CERT ${config.PEER_TLS_CERT} is issued to ${tls.identity}, not to this node (NODE_ID=${config.NODE_ID}); issue one for swarmshare://node/${config.NODE_ID}`);
  }
  return tls;
}

@Module({})
export class PeerGatewayModule {
  static forRoot(config: PeerGatewayConfig, logger: Logger): DynamicModule {
    const nodeId = config.NODE_ID;
    // Node-wide transfer limits (off unless configured) and upload slots, shared by every peer and download.
    const uploads = new UploadGate(new UploadSlots(config.UPLOAD_SLOTS), limiterFor(config.UPLOAD_RATE_LIMIT));
    const downloadLimit = limiterFor(config.DOWNLOAD_RATE_LIMIT);
    // Swarm shaping (docs/performance.md): chunks stored here are announced to interested peers at
    // once, and a complete holder spreads first copies instead of sending a chunk twice in a row.
    const haveUpdates = new HaveUpdates(config.HAVE_UPDATE_MS);
    const tls = peerTlsFor(config, logger);
    // Finished downloads and uploads answer status for a while, then are forgotten.
    const jobRetention = { maxFinished: config.FINISHED_JOBS_KEPT, ttlMs: config.FINISHED_JOB_TTL_MS };
    return {
      module: PeerGatewayModule,
      controllers: [createGatewayController(nodeId), createReplicationController(nodeId), createNodeAdminController(nodeId)],
      providers: [
        { provide: SERVICE_CONFIG, useValue: config },
        { provide: SERVICE_LOGGER, useValue: logger },
        { provide: NATS_CONNECTION, useFactory: () => connectNats(config.NATS_URL, `peer-gateway-${nodeId}-client`, true, config.NATS_CA_FILE) },
        { provide: NatsRpc, useFactory: (nc: NatsConnection) => new NatsRpc(nc, config.REQUEST_TIMEOUT_MS), inject: [NATS_CONNECTION] },
        { provide: ChunkStoreClient, useFactory: (rpc: NatsRpc) => new ChunkStoreClient(rpc, nodeId), inject: [NatsRpc] },
        // Registry facts the tracker cannot take by request go to the JetStream facts stream instead.
        { provide: TrackerClient, useFactory: (rpc: NatsRpc, nc: NatsConnection) => new TrackerClient(rpc, new FactPublisher(nc, config.REQUEST_TIMEOUT_MS)), inject: [NatsRpc, NATS_CONNECTION] },
        // Our downloads apply HAVE_UPDATEs and take TRY_PEERS refusals: peers may send us both.
        // Discovery adds its feature and hooks when it is made (it dials through the transport).
        { provide: ConnectionExtensions, useFactory: () => new ConnectionExtensions([HAVE_UPDATES_FEATURE, TRY_PEERS_FEATURE]) },
        {
          provide: ChunkRegions,
          useFactory: (store: ChunkStoreClient) => {
            const regions = new ChunkRegions(store, config.DATA_DIR, logger);
            regions.onStored((fileId, index) => haveUpdates.stored(fileId, index));
            return regions;
          },
          inject: [ChunkStoreClient],
        },
        {
          provide: ChunkRepairer,
          useFactory: (store: ChunkStoreClient, regions: ChunkRegions) => new ChunkRepairer(store, regions, logger),
          inject: [ChunkStoreClient, ChunkRegions],
        },
        {
          provide: LocalPeerHandler,
          // Replication: a STORE_OFFER with a reservation is accepted only once this node's reservation holds.
          useFactory: (store: ChunkStoreClient, regions: ChunkRegions, tracker: TrackerClient, repairer: ChunkRepairer) => {
            const superSeed = new SuperSeeder({
              windowMs: config.SUPER_SEED_MS,
              isComplete: async (fileId) => {
                const h = await store.have(fileId);
                return h.chunkCount > 0 && h.present === h.chunkCount;
              },
            });
            regions.onLost((fileId) => superSeed.forgetFile(fileId));
            return new LocalPeerHandler(
              store,
              regions,
              (r) => tracker.reserve(r.uploadId, nodeId, r.bytes),
              (r, from) => tracker.downloadAcked({ fileId: r.fileId, nodeId: from, holder: nodeId, bytes: r.bytes, chunks: r.chunks }),
              { haveUpdates, repairer, superSeed },
            );
          },
          inject: [ChunkStoreClient, ChunkRegions, TrackerClient, ChunkRepairer],
        },
        {
          provide: Discovery,
          useFactory: (handler: LocalPeerHandler, rpc: NatsRpc, server: PeerServer, connector: PeerConnector, extensions: ConnectionExtensions) => {
            const discovery = new Discovery({
              nodeId,
              selfAddress: () => server.address,
              connect: (address, expect, o) => connector.connect(address, expect, o),
              localHave: (fileId) => handler.have(fileId),
              // The tracker is optional here: when it is down this just fails and the overlay uses what it has.
              trackerPeers: async () => (await rpc.request(TrackerSubjects.listPeers, {}, z.array(PeerRecordSchema))).map((p) => ({ nodeId: p.nodeId, address: p.address })),
              bootstrap: config.BOOTSTRAP_PEERS ? config.BOOTSTRAP_PEERS.split(',').map((a) => a.trim()) : [],
              maxNeighbours: config.MAX_NEIGHBOURS,
              minNeighbours: config.MIN_NEIGHBOURS,
              queryHops: config.QUERY_HOPS,
              queryRatePerOrigin: config.QUERY_RATE_PER_ORIGIN,
              dedupeSize: config.QUERY_DEDUPE_SIZE,
              lookupTimeoutMs: config.LOOKUP_TIMEOUT_MS,
              lookupParallelism: config.LOOKUP_PARALLELISM,
              lookupCacheTtlMs: config.LOOKUP_CACHE_TTL_MS,
              discoveryTimeoutMs: config.DISCOVERY_TIMEOUT_MS,
              logger: logger.child({ component: 'discovery' }),
            });
            // Discovery answers its messages on every connection of the server and the connector.
            extensions.serveDiscovery(discovery.features, discovery.hooks);
            extensions.onAccepted((c) => discovery.overlay.accept(c));
            return discovery;
          },
          inject: [LocalPeerHandler, NatsRpc, PeerServer, PeerConnector, ConnectionExtensions],
        },
        {
          provide: PeerServer,
          useFactory: (handler: LocalPeerHandler, extensions: ConnectionExtensions, metrics: Metrics) =>
            new PeerServer({
              onChunkBytes: chunkBytesMetric(metrics, config),
              extensions,
              nodeId,
              host: config.PEER_HOST,
              port: config.PEER_PORT,
              advertise: config.ADVERTISE_ADDRESS,
              maxConnections: config.MAX_CONNECTIONS,
              maxConnectionsPerAddress: config.MAX_CONNECTIONS_PER_ADDRESS,
              idleTimeoutMs: config.PEER_IDLE_TIMEOUT_MS,
              maxWriteQueueBytes: config.PEER_WRITE_QUEUE_BYTES,
              answerTimeoutMs: config.PEER_ANSWER_TIMEOUT_MS,
              handler,
              uploads,
              logger,
              tls,
            }),
          inject: [LocalPeerHandler, ConnectionExtensions, Metrics],
        },
        {
          provide: PeerConnector,
          useFactory: (server: PeerServer, handler: LocalPeerHandler, extensions: ConnectionExtensions, metrics: Metrics) =>
            new PeerConnector({
              nodeId,
              listen: () => server.address,
              handler,
              answerTimeoutMs: config.PEER_ANSWER_TIMEOUT_MS,
              logger,
              extensions,
              onChunkBytes: chunkBytesMetric(metrics, config),
              tls,
              maxWriteQueueBytes: config.PEER_WRITE_QUEUE_BYTES,
            }),
          inject: [PeerServer, LocalPeerHandler, ConnectionExtensions, Metrics],
        },
        {
          provide: DownloadsService,
          useFactory: (rpc: NatsRpc, tracker: TrackerClient, store: ChunkStoreClient, regions: ChunkRegions, connector: PeerConnector, discovery: Discovery, metrics: Metrics, repairer: ChunkRepairer) => {
            const downloads = new DownloadsService((fileId, opts) => {
              const discover = opts?.discover;
              // Trackerless: flood or iterative; unset: the tracker when it answers, else iterative.
              const holderSource =
                discover === 'flood' || discover === 'iterative'
                  ? discovery.holderSource(fileId, discover)
                  : discover === undefined
                    ? new AutoHolderSource(discovery, fileId, async (id) => holdersOf(await tracker.getFile(id), nodeId), logger)
                    : undefined;
              const progress = new ProgressThrottle((s) => {
                try {
                  rpc.publish(downloadProgressSubject(nodeId), { ...s, nodeId });
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
                // A holder found by discovery may already be connected (connect-back): use that link.
                connect: async (address, expect) => discovery.takeLink(expect) ?? connector.connect(address, expect),
                onProgress: (s, final) => progress.update(s, final),
                holderSource,
                // The seed's flood scheme: one chunk at a time per holder that answered.
                pipelineDepth: discover === 'flood' ? 1 : config.PIPELINE_DEPTH,
                maxPeers: config.MAX_PEERS_PER_DOWNLOAD,
                downloadLimit,
                haveRefreshMs: config.HAVE_REFRESH_MS,
                repair: opts?.repair,
                logger: logger.child({ fileId }),
              });
            }, logger, metrics, jobRetention);
            // Chunks found corrupt here are fetched again from the swarm.
            repairer.onCorrupt((fileId) => downloads.repair(fileId));
            return downloads;
          },
          inject: [NatsRpc, TrackerClient, ChunkStoreClient, ChunkRegions, PeerConnector, Discovery, Metrics, ChunkRepairer],
        },
        {
          provide: ReplicationsService,
          useFactory: (rpc: NatsRpc, tracker: TrackerClient, store: ChunkStoreClient, regions: ChunkRegions, connector: PeerConnector) =>
            new ReplicationsService(
              (req) =>
                new ReplicationJob(req, {
                  nodeId,
                  store,
                  regions,
                  tracker,
                  connect: (address, expect) => connector.connect(address, expect),
                  chunkTimeoutMs: config.REPLICATE_CHUNK_TIMEOUT_MS,
                  storesInFlight: config.REPLICATE_STORES_IN_FLIGHT,
                  maxResends: config.REPLICATE_MAX_RESENDS,
                  onProgress: (s) => {
                    try {
                      rpc.publish(EventSubjects.replicateProgress, { ...s, nodeId });
                    } catch {
                      /* best effort, like download progress: status has the truth */
                    }
                  },
                  logger: logger.child({ fileId: req.fileId }),
                }),
              jobRetention,
            ),
          inject: [NatsRpc, TrackerClient, ChunkStoreClient, ChunkRegions, PeerConnector],
        },
        {
          provide: Announcer,
          useFactory: (store: ChunkStoreClient, tracker: TrackerClient, server: PeerServer, downloads: DownloadsService) =>
            new Announcer(store, tracker, {
              nodeId,
              address: () => server.address,
              intervalMs: config.ANNOUNCE_INTERVAL_MS,
              downloading: () => downloads.activeFileIds(),
              reRegistrar: new ReRegistrar(store, tracker, nodeId, logger),
              logger,
            }),
          inject: [ChunkStoreClient, TrackerClient, PeerServer, DownloadsService],
        },
        {
          provide: FileDeleter,
          useFactory: (downloads: DownloadsService, replications: ReplicationsService, regions: ChunkRegions, store: ChunkStoreClient, announcer: Announcer) => {
            const deleter = new FileDeleter({ nodeId, downloads, replications, regions, store, announce: () => announcer.announce(), logger });
            // Files deleted everywhere while this node was away: the tracker's announce reply names them.
            announcer.deleteWith((fileId) => deleter.delete(fileId));
            return deleter;
          },
          inject: [DownloadsService, ReplicationsService, ChunkRegions, ChunkStoreClient, Announcer],
        },
        {
          provide: GarbageCollector,
          useFactory: (deleter: FileDeleter, store: ChunkStoreClient, regions: ChunkRegions, tracker: TrackerClient, metrics: Metrics) => {
            const gc = new GarbageCollector({
              nodeId,
              highPct: config.GC_HIGH_WATERMARK,
              lowPct: config.GC_LOW_WATERMARK,
              store,
              evict: (fileId) => deleter.delete(fileId),
              swarmView: async (fileId) => {
                const r = await tracker.getFile(fileId);
                return { otherComplete: r.seeders.filter((s) => s.nodeId !== nodeId).length, expiresAt: r.expiresAt };
              },
              // Last read here if the gateway remembers, else when its data file was last written.
              lastUsed: async (fileId) => regions.lastRead(fileId) ?? (await stat((await store.layout(fileId)).path)).mtimeMs,
              metrics,
              logger: logger.child({ component: 'gc' }),
            });
            gc.start(config.GC_INTERVAL_MS);
            return gc;
          },
          inject: [FileDeleter, ChunkStoreClient, ChunkRegions, TrackerClient, Metrics],
        },
        {
          provide: WriterHeartbeat,
          useFactory: (store: ChunkStoreClient) => new WriterHeartbeat(store, WRITER_HEARTBEAT_MS, logger),
          inject: [ChunkStoreClient],
        },
        {
          provide: GatewayLifecycle,
          useFactory: (server, connector, announcer, downloads, regions, nats, writer) =>
            new GatewayLifecycle({ server, connector, announcer, downloads, regions, nats, writer, logger }),
          inject: [PeerServer, PeerConnector, Announcer, DownloadsService, ChunkRegions, NATS_CONNECTION, WriterHeartbeat],
        },
      ],
    };
  }
}

/** Chunk bytes per peer, sent and received, on every connection this gateway has (issue 5 metrics); the peer label is capped. */
function chunkBytesMetric(metrics: Metrics, config: PeerGatewayConfig) {
  metrics.peerLabels.limits = { max: config.METRICS_PEER_LABELS, idleMs: config.METRICS_PEER_IDLE_MS };
  return (direction: 'sent' | 'received', peer: string, bytes: number) => metrics.peerBytes(direction, peer, bytes);
}
