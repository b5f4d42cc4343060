import { z } from 'zod';
import { NodeIdSchema, PeerAddressSchema } from '../schemas';
import { envInt, envLogLevel, envNatsUrls, envSize, envUrl } from './load-config';

/**
 * The environment each service reads, with defaults. These schemas are the single list of settings:
 * docs/operations.md, the compose file checks and the local launcher are all derived from them.
 */
const common = {
  NATS_URL: envNatsUrls.default('nats://127.0.0.1:4222'),
  LOG_LEVEL: envLogLevel.default('info'),
  /** Timeout for every NATS request this service makes. */
  REQUEST_TIMEOUT_MS: envInt(100, 600_000).default(5000),
  /** HTTP port for /healthz, /readyz and /metrics; 0 turns the HTTP server off. */
  HTTP_PORT: envInt(0, 65535).default(0),
};

const redis = {
  REDIS_URL: envUrl(['redis', 'rediss']).default('redis://127.0.0.1:6379'),
};

export const TrackerConfigSchema = z.object({
  ...common,
  ...redis,
  /** A peer that has not announced for this long is no longer listed. */
  PEER_TTL_MS: envInt(1000, 86_400_000).default(30_000),
});
export type TrackerConfig = z.infer<typeof TrackerConfigSchema>;

const node = {
  NODE_ID: NodeIdSchema,
  /** The node's data volume, shared by its chunk-store and peer-gateway. */
  DATA_DIR: z.string().min(1, 'must be a directory path'),
};

export const ChunkStoreConfigSchema = z.object({
  ...common,
  ...redis,
  ...node,
  /** Bytes this node offers for chunk data; 0 = whatever the disk has free. */
  STORE_CAPACITY: envSize(0).default(0),
  /** A lease not closed within this time expires and its chunk lock is released. */
  LEASE_TTL_MS: envInt(1000, 3_600_000).default(60_000),
});
export type ChunkStoreConfig = z.infer<typeof ChunkStoreConfigSchema>;

export const PeerGatewayConfigSchema = z.object({
  ...common,
  ...node,
  PEER_HOST: z.string().min(1).default('0.0.0.0'),
  PEER_PORT: envInt(0, 65535).default(7881),
  /** host:port other peers use to reach this node; defaults to 127.0.0.1:PEER_PORT. */
  ADVERTISE_ADDRESS: PeerAddressSchema.optional(),
  ANNOUNCE_INTERVAL_MS: envInt(200, 3_600_000).default(5000),
  /** Requests kept in flight per holder during a download. */
  PIPELINE_DEPTH: envInt(1, 64).default(8),
  /** Holders one download uses at once. */
  MAX_PEERS_PER_DOWNLOAD: envInt(1, 256).default(8),
  MAX_CONNECTIONS: envInt(1, 100_000).default(256),
});
export type PeerGatewayConfig = z.infer<typeof PeerGatewayConfigSchema>;

export const ServiceConfigSchemas = {
  tracker: TrackerConfigSchema,
  'chunk-store': ChunkStoreConfigSchema,
  'peer-gateway': PeerGatewayConfigSchema,
} as const;
