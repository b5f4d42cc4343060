import { z } from 'zod';
import { MAX_CONTROL_FRAME } from '../protocol/messages';
import { NodeIdSchema, PeerAddressSchema } from '../schemas';
import { envInt, envLogLevel, envNatsUrls, envReadableFile, envSize, envUrl } from './load-config';

/**
 * The environment each service reads, with defaults. These schemas are the single list of settings:
 * docs/operations.md, the compose file checks and the local launcher are all derived from them.
 */
/** Shortest ADMIN_TOKEN accepted: long enough that guessing it over the network is hopeless. */
export const ADMIN_TOKEN_MIN_LENGTH = 16;

const common = {
  NATS_URL: envNatsUrls.default('nats://127.0.0.1:4222'),
  /** PEM file of the CA that signed the NATS server's certificate; set, TLS to NATS is required. */
  NATS_CA_FILE: envReadableFile.optional(),
  /** File holding the password of the user NATS_URL names (compose volumes, Kubernetes Secrets). */
  NATS_PASSWORD_FILE: envReadableFile.optional(),
  LOG_LEVEL: envLogLevel.default('info'),
  /** Characters kept of any one string field in a log line (request values included). */
  LOG_FIELD_MAX_CHARS: envInt(64, 1_000_000).default(2048),
  /** Items kept of any one array (keys of any one object) in a log line. */
  LOG_FIELD_MAX_ITEMS: envInt(1, 100_000).default(64),
  /** Timeout for every NATS request this service makes. */
  REQUEST_TIMEOUT_MS: envInt(100, 600_000).default(5000),
  /** HTTP port for /healthz, /readyz and /metrics; 0 turns the HTTP server off. */
  HTTP_PORT: envInt(0, 65535).default(0),
};

const redis = {
  REDIS_URL: envUrl(['redis', 'rediss']).default('redis://127.0.0.1:6379'),
  /** PEM file of the CA that signed Redis's certificate, for a rediss:// REDIS_URL. */
  REDIS_CA_FILE: envReadableFile.optional(),
  /** A Redis command not answered within this time fails with TIMEOUT instead of waiting forever. */
  REDIS_COMMAND_TIMEOUT_MS: envInt(100, 600_000).default(3000),
  /** File holding the password of the user REDIS_URL names. */
  REDIS_PASSWORD_FILE: envReadableFile.optional(),
};

export const TrackerConfigSchema = z.object({
  ...common,
  ...redis,
  /** A peer that has not announced for this long is no longer listed. */
  PEER_TTL_MS: envInt(1000, 86_400_000).default(30_000),
  /** A space reservation of an upload expires after this long, so a crashed seeder leaves nothing behind. */
  RESERVATION_TTL_MS: envInt(1000, 86_400_000).default(1_800_000),
  /**
   * A file deleted everywhere is remembered this long: a holder that was down at the time deletes its
   * copy when it announces within it (issue 14). A new share of the same content clears it at once.
   */
  TOMBSTONE_TTL_MS: envInt(60_000, 31_536_000_000).default(604_800_000),
  /**
   * A tracker runs a preheat job while it holds the job's lease; one that stops renewing it (crashed)
   * loses it after this long, and another tracker resumes the job.
   */
  PREHEAT_LEASE_MS: envInt(1000, 600_000).default(15_000),
  /** How long a preheat job waits for nodes that were down to come back; they are then failed. */
  PREHEAT_DOWN_WAIT_MS: envInt(60_000, 31_536_000_000).default(604_800_000),
  /** Port of the gRPC admin API (swarmshare.admin.v1.Admin, health, reflection); 0 = off. */
  GRPC_PORT: envInt(0, 65535).default(0),
  /** Address the gRPC admin API binds to: loopback unless the deployment opens it on purpose. */
  GRPC_HOST: z.string().min(1).default('127.0.0.1'),
  /** Bearer token every Admin call must carry; required whenever GRPC_PORT is set. */
  ADMIN_TOKEN: z.string().min(ADMIN_TOKEN_MIN_LENGTH, `must be at least ${ADMIN_TOKEN_MIN_LENGTH} characters (e.g. \`openssl rand -hex 24\`)`).optional(),
  /** The admin API over mutual TLS with the swarm CA (clients need a certificate it signed); `off` = plaintext (logs a warning). */
  GRPC_TLS: z.enum(['on', 'off']).default('on'),
  /** PEM file of the swarm CA: admin clients must present a certificate it signed. */
  GRPC_TLS_CA: z.string().min(1).optional(),
  /** PEM server certificate of the admin port, naming the host clients dial (`swarmshare pki --host`). */
  GRPC_TLS_CERT: z.string().min(1).optional(),
  /** PEM private key of GRPC_TLS_CERT. */
  GRPC_TLS_KEY: z.string().min(1).optional(),
}).superRefine((c, ctx) => {
  if (c.GRPC_PORT === 0) return;
  // Secure by default: there is no unauthenticated admin port, not even on loopback.
  if (c.ADMIN_TOKEN === undefined) {
    ctx.addIssue({ code: 'custom', path: ['ADMIN_TOKEN'], message: `must be set when GRPC_PORT=${c.GRPC_PORT} serves the admin API (at least ${ADMIN_TOKEN_MIN_LENGTH} characters, e.g. \`openssl rand -hex 24\`), or set GRPC_PORT=0` });
  }
  if (c.GRPC_TLS !== 'on') return;
  for (const k of ['GRPC_TLS_CA', 'GRPC_TLS_CERT', 'GRPC_TLS_KEY'] as const) {
    if (c[k] === undefined) {
      ctx.addIssue({ code: 'custom', path: [k], message: `must be set while GRPC_TLS=on and GRPC_PORT=${c.GRPC_PORT} (\`swarmshare up\` makes them under DATA/tls; see docs/operations.md "Admin API TLS"), or set GRPC_TLS=off to serve the admin API in plaintext` });
    }
  }
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
  /** A writer (the gateway) silent for this long is taken for dead and its chunk locks are released. */
  WRITER_TIMEOUT_MS: envInt(3000, 600_000).default(5000),
  /** Background scrub: bytes of stored chunks re-hashed per second (a bad one is marked missing and fetched again); 0 = off. */
  SCRUB_BYTES_PER_SEC: envSize(0).default(0),
  /** Creates whose manifest comes page by page (store.create.page) under way at once; each holds up to 64 MiB of hashes. */
  PAGED_CREATES_MAX: envInt(1, 64).default(8),
  /** A paged create whose next page does not come within this time is dropped (the sender starts again). */
  PAGED_CREATE_TIMEOUT_MS: envInt(1000, 600_000).default(60_000),
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
  /** Cap on requests kept in flight per holder; each holder's depth is sized from its rate (about 2 s of data). */
  PIPELINE_DEPTH: envInt(1, 64).default(32),
  /** Holders one download uses at once. */
  MAX_PEERS_PER_DOWNLOAD: envInt(1, 256).default(8),
  MAX_CONNECTIONS: envInt(1, 100_000).default(256),
  /** Peer connections accepted at once from one IP address (TLS handshakes included); more are dropped on arrival. */
  MAX_CONNECTIONS_PER_ADDRESS: envInt(1, 100_000).default(64),
  /** An accepted peer connection on which nothing moves for this long after HELLO is closed (overlay neighbours excepted). */
  PEER_IDLE_TIMEOUT_MS: envInt(100, 86_400_000).default(120_000),
  /** Bytes of control replies queued for one peer that does not read them; past it the connection is dropped. At least one control frame (1 MiB + 5 bytes). */
  PEER_WRITE_QUEUE_BYTES: envSize(MAX_CONTROL_FRAME, 1024 ** 3).default(4 * 1024 * 1024),
  /** A peer that leaves our MANIFEST_REQUEST or HAVE_REQUEST unanswered this long (no chunk data either) is disconnected. */
  PEER_ANSWER_TIMEOUT_MS: envInt(100, 600_000).default(15_000),
  // ---- peer mutual TLS (docs/operations.md) ----
  /** Peer plane mutual TLS with the swarm CA; `off` accepts anyone who can reach the port (logs a warning). */
  PEER_TLS: z.enum(['on', 'off']).default('on'),
  /** PEM file of the swarm CA: peers must present a certificate it signed. */
  PEER_TLS_CA: z.string().min(1).optional(),
  /** PEM certificate of this node, issued by the CA to swarmshare://node/<NODE_ID>. */
  PEER_TLS_CERT: z.string().min(1).optional(),
  /** PEM private key of PEER_TLS_CERT (keep it owner-readable only). */
  PEER_TLS_KEY: z.string().min(1).optional(),
  // ---- transfer engine (docs/performance.md) ----
  /** Peers served chunks at once; the others wait their turn (slots rotate per chunk). 0 = unlimited. */
  UPLOAD_SLOTS: envInt(0, 10_000).default(4),
  /** Upload bandwidth limit in bytes/s (e.g. 50MiB); 0 = off. */
  UPLOAD_RATE_LIMIT: envSize(0).default(0),
  /** Download bandwidth limit in bytes/s, shared by all downloads; 0 = off. */
  DOWNLOAD_RATE_LIMIT: envSize(0).default(0),
  /** How often a download asks its holders for a fresh HAVE (leechers gain chunks as they go); 0 = never. */
  HAVE_REFRESH_MS: envInt(0, 600_000).default(250),
  /** Chunks this node stored are announced to peers that asked for the file's HAVE, batched over this many ms; 0 = never (peers poll). */
  HAVE_UPDATE_MS: envInt(0, 10_000).default(50),
  /** Super-seeding: a complete holder refuses (TRY_PEERS) a chunk it sent to another peer less than this long ago; 0 = off. */
  SUPER_SEED_MS: envInt(0, 600_000).default(3000),
  // ---- replication (docs/flows.md) ----
  /** A pushed chunk not acked within this time counts as a dead receiver: its share is re-placed. */
  REPLICATE_CHUNK_TIMEOUT_MS: envInt(100, 600_000).default(30_000),
  /** STOREs in flight to each receiving peer during a replicated upload. */
  REPLICATE_STORES_IN_FLIGHT: envInt(1, 32).default(4),
  /** A chunk a receiver nacks (hash mismatch) is sent again this many times before the peer is dropped. */
  REPLICATE_MAX_RESENDS: envInt(0, 100).default(3),
  // ---- bookkeeping ----
  /** Peers with their own `peer` label on the byte metrics; the others are counted as `_other`. */
  METRICS_PEER_LABELS: envInt(0, 100_000).default(100),
  /** A peer that moved no chunk for this long gives its `peer` label up to a new one (its series is removed). */
  METRICS_PEER_IDLE_MS: envInt(1000, 86_400_000).default(600_000),
  /** Finished downloads and replicated uploads whose status is kept (each kind); the oldest is forgotten first. */
  FINISHED_JOBS_KEPT: envInt(0, 1_000_000).default(1000),
  /** A finished download's or upload's status is forgotten this long after it ended. */
  FINISHED_JOB_TTL_MS: envInt(0, 31_536_000_000).default(3_600_000),
  // ---- trackerless discovery (docs/discovery.md) ----
  /** Comma-separated host:port of peers to join the overlay through. */
  BOOTSTRAP_PEERS: z
    .string()
    .refine((s) => s.split(',').every((a) => PeerAddressSchema.safeParse(a.trim()).success), 'must be host:port[,host:port...]')
    .optional(),
  /** Overlay neighbours kept at most (outgoing and incoming together). */
  MAX_NEIGHBOURS: envInt(1, 64).default(8),
  /** Below this many neighbours the gateway dials peers it learnt from neighbours or the tracker. */
  MIN_NEIGHBOURS: envInt(0, 64).default(4),
  /** Hop budget of the flood queries this node starts (at most MAX_QUERY_HOPS = 16). */
  QUERY_HOPS: envInt(1, 16).default(6),
  /** Flood queries per second accepted per origin address (burst of the same size). */
  QUERY_RATE_PER_ORIGIN: envInt(1, 10_000).default(5),
  /** Query ids remembered to drop duplicates; the oldest are forgotten first. */
  QUERY_DEDUPE_SIZE: envInt(16, 1_000_000).default(10_000),
  /** Iterative lookup: one question (connect, HAVE, NEIGHBOURS) to one peer gets this long. */
  LOOKUP_TIMEOUT_MS: envInt(50, 60_000).default(2000),
  /** Iterative lookup: questions in flight at once. */
  LOOKUP_PARALLELISM: envInt(1, 256).default(8),
  /** Iterative lookup: answers (holdings, neighbour lists) are reused for this long. */
  LOOKUP_CACHE_TTL_MS: envInt(0, 3_600_000).default(30_000),
  /** How long a trackerless fetch looks for holders before it gives up. */
  DISCOVERY_TIMEOUT_MS: envInt(100, 600_000).default(20_000),
  // ---- garbage collection (docs/operations.md "Quota and garbage collection") ----
  /** How often garbage collection runs on its own; 0 = only on demand (`swarmshare gc`). */
  GC_INTERVAL_MS: envInt(0, 86_400_000).default(900_000),
  /** Above this percentage of the store's capacity in use, GC evicts complete files... */
  GC_HIGH_WATERMARK: envInt(1, 100).default(90),
  /** ...least recently used first, down to this percentage. */
  GC_LOW_WATERMARK: envInt(0, 99).default(70),
}).superRefine((c, ctx) => {
  if (c.GC_LOW_WATERMARK >= c.GC_HIGH_WATERMARK) {
    ctx.addIssue({ code: 'custom', path: ['GC_LOW_WATERMARK'], message: `must be below GC_HIGH_WATERMARK (${c.GC_HIGH_WATERMARK}), e.g. 70 with 90` });
  }
  // Secure by default: the peer port is not opened without authentication unless asked for.
  if (c.PEER_TLS !== 'on') return;
  for (const k of ['PEER_TLS_CA', 'PEER_TLS_CERT', 'PEER_TLS_KEY'] as const) {
    if (c[k] === undefined) {
      ctx.addIssue({ code: 'custom', path: [k], message: 'must be set while PEER_TLS=on (`swarmshare up` makes them under DATA/tls; see docs/operations.md), or set PEER_TLS=off to run the peer plane unauthenticated' });
    }
  }
});
export type PeerGatewayConfig = z.infer<typeof PeerGatewayConfigSchema>;

export const ServiceConfigSchemas = {
  tracker: TrackerConfigSchema,
  'chunk-store': ChunkStoreConfigSchema,
  'peer-gateway': PeerGatewayConfigSchema,
} as const;
