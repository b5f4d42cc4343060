import { Inject, Injectable } from '@nestjs/common';
import {
  Bitfield,
  DiscoverModeSchema,
  type DownloadStatus,
  DownloadProgressEventSchema,
  DownloadStatusSchema,
  downloadProgressSubject,
  FileIdSchema,
  gatewaySubjects,
  GatewayInfoSchema,
  HaveReplySchema,
  NatsRpc,
  NodeIdSchema,
  parseOrThrow,
  SERVICE_CONFIG,
  StoreStatsSchema,
  storeSubjects,
  SwarmError,
  TFileDefSchema,
  toErrorBody,
  type TrackerConfig,
} from '@swarmshare/common';
import type { Observable } from 'rxjs';
import { z } from 'zod';
import { TrackerService } from '../tracker.service';
import { type ChunkRange, chunkRanges } from './chunk-ranges';
import { followDownload, type StreamSink } from './fetch-follower';

/** Holders whose have-maps one GetFile asks for, at most (a bound on one call's fan-out). */
const MAX_HOLDERS_ASKED = 256;
/** Partial files whose transfers one GetNode asks the gateway about, at most. */
const MAX_TRANSFERS_ASKED = 64;
/** How often a Fetch stream polls the node, besides following its progress events. */
const FETCH_POLL_MS = 1000;
/** A download that makes no progress for this long ends its Fetch stream with TIMEOUT. */
const FETCH_IDLE_TIMEOUT_MS = 300_000;

const FetchInputSchema = z.object({ node_id: NodeIdSchema, file_id: FileIdSchema, discover: DiscoverModeSchema.optional() });

/**
 * What the admin API answers. Registry questions are answered from this tracker's own services;
 * node questions are forwarded over NATS to the node's chunk-store and gateway, as any NATS client would.
 */
@Injectable()
export class AdminService {
  constructor(
    private readonly tracker: TrackerService,
    private readonly rpc: NatsRpc,
    @Inject(SERVICE_CONFIG) private readonly config: Pick<TrackerConfig, 'REQUEST_TIMEOUT_MS'>,
  ) {}

  listFiles() {
    return this.tracker.listFiles();
  }

  listPeers() {
    return this.tracker.listPeers();
  }

  /** The file's record and, from each live holder's store, which chunks it has. */
  async getFile(rawFileId: string) {
    const { file_id: fileId } = parseOrThrow(z.object({ file_id: FileIdSchema }), { file_id: rawFileId }, 'GetFile request');
    const file = await this.tracker.getFile(fileId);
    const holders = [...new Set([...file.seeders, ...file.leechers].map((p) => p.nodeId))].slice(0, MAX_HOLDERS_ASKED);
    const answers = await Promise.all(
      holders.map(async (nodeId) => {
        try {
          const have = await this.rpc.request(storeSubjects(nodeId).have, { fileId }, HaveReplySchema);
          return { nodeId, have: Bitfield.fromBase64(file.chunkCount, have.bitfield) };
        } catch (e) {
          return { nodeId, reason: toErrorBody(e).message };
        }
      }),
    );
    const haves = answers.filter((a): a is { nodeId: string; have: Bitfield } => 'have' in a);
    const ranges: ChunkRange[] = chunkRanges(file.chunkCount, haves);
    const unreachable = answers.filter((a): a is { nodeId: string; reason: string } => 'reason' in a);
    return { file, ranges, minCopies: ranges.length === 0 ? 0 : Math.min(...ranges.map((r) => r.copies)), unreachable };
  }

  /** A node's store (files, space) and gateway (address, connections, downloads of its partial files). */
  async getNode(rawNodeId: string) {
    const { node_id: nodeId } = parseOrThrow(z.object({ node_id: NodeIdSchema }), { node_id: rawNodeId }, 'GetNode request');
    const store = storeSubjects(nodeId);
    const gateway = gatewaySubjects(nodeId);
    const [info, stats, files] = await Promise.all([
      this.rpc.request(gateway.info, {}, GatewayInfoSchema),
      this.rpc.request(store.stats, {}, StoreStatsSchema),
      this.rpc.request(store.files, {}, z.array(TFileDefSchema)),
    ]);
    const partial = files.filter((f) => f.state === 'partial').slice(0, MAX_TRANSFERS_ASKED);
    const transfers = (
      await Promise.all(
        partial.map((f) =>
          this.rpc.request(gateway.status, { fileId: f.fileId }, DownloadStatusSchema).catch((e: unknown) => {
            // A partial file with no download behind it (a replica share, an interrupted fetch) is not a transfer.
            if (e instanceof SwarmError && e.code === 'NOT_FOUND') return undefined;
            throw e;
          }),
        ),
      )
    ).filter((s): s is DownloadStatus => s !== undefined);
    return { nodeId, info, stats, files, transfers };
  }

  /** Start (or join) a download on a node and follow it until it is done (see followDownload). */
  fetch(input: { node_id: string; file_id: string; discover?: string }, sink: StreamSink): Observable<DownloadStatus> {
    const { node_id: nodeId, file_id: fileId, discover } = parseOrThrow(FetchInputSchema, input, 'Fetch request');
    const gateway = gatewaySubjects(nodeId);
    return followDownload(
      {
        start: () => this.rpc.request(gateway.fetch, { fileId, ...(discover ? { discover } : {}) }, DownloadStatusSchema),
        status: () => this.rpc.request(gateway.status, { fileId }, DownloadStatusSchema),
        events: (onState) => {
          const sub = this.rpc.subscribe(downloadProgressSubject(nodeId), DownloadProgressEventSchema, (e) => {
            if (e.nodeId === nodeId && e.fileId === fileId) onState(e);
          });
          return () => sub.unsubscribe();
        },
      },
      sink,
      { nodeId, pollMs: FETCH_POLL_MS, idleTimeoutMs: Math.max(FETCH_IDLE_TIMEOUT_MS, this.config.REQUEST_TIMEOUT_MS * 2) },
    );
  }
}
