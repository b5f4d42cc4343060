import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { readPasswordFile, urlsWithPassword } from '@swarmshare/common/nats-client';

/** What `swarmshare up` records in its data directory so other commands can find the swarm. */
export const ClusterFileSchema = z.object({
  /** With the admin user's credentials when `up` started nats-server (issue 11): the file is owner-only. */
  natsUrl: z.string(),
  /** Likewise, the Redis admin user's. */
  redisUrl: z.string(),
  pid: z.number().int(),
  startedAt: z.string(),
  nodes: z.array(z.object({ nodeId: z.string(), peerAddress: z.string(), dataDir: z.string() })),
  /** HTTP port of /healthz, /readyz and /metrics, by process (tracker-0, a-chunk-store, a-peer-gateway, ...). */
  httpPorts: z.record(z.string(), z.number().int()).default({}),
  /** Process id of each process `up` runs (nats-server, redis-server, tracker-0, a-chunk-store, ...), kept current across restarts. */
  pids: z.record(z.string(), z.number().int()).default({}),
  /** gRPC admin API port of each tracker (tracker-0, ...), on 127.0.0.1. */
  grpcPorts: z.record(z.string(), z.number().int()).default({}),
  /** Bearer token of the admin API (`authorization: Bearer <token>`); the file is readable by its owner only. */
  adminToken: z.string().optional(),
  /** The CLI's peer TLS files (swarm CA, its certificate and key); null when the swarm runs --insecure. */
  peerTls: z.object({ ca: z.string(), cert: z.string(), key: z.string() }).nullable().default(null),
  /** CA of a tls:// natsUrl (the swarm CA when `up` started nats-server); null = plaintext NATS. */
  natsCa: z.string().nullable().default(null),
  /** CA of a rediss:// redisUrl (the swarm CA when `up` started redis-server with TLS); null = plaintext Redis. */
  redisCa: z.string().nullable().default(null),
});
export type ClusterFile = z.infer<typeof ClusterFileSchema>;

import { DEFAULT_DATA_DIR } from './defaults';
export { DEFAULT_DATA_DIR };

export function clusterFilePath(dataDir: string): string {
  return join(resolve(dataDir), 'cluster.json');
}

export function writeClusterFile(dataDir: string, c: ClusterFile): void {
  const p = clusterFilePath(dataDir);
  // Owner-only: it holds the admin API's token and the NATS and Redis admin credentials.
  writeFileSync(`${p}.tmp`, JSON.stringify(c, null, 2), { mode: 0o600 });
  renameSync(`${p}.tmp`, p);
}

export function readClusterFile(dataDir: string): ClusterFile | undefined {
  const p = clusterFilePath(dataDir);
  if (!existsSync(p)) return undefined;
  const r = ClusterFileSchema.safeParse(JSON.parse(readFileSync(p, 'utf8')));
  if (!r.success) throw new Error(`${p} is damaged; start the swarm again with \`swarmshare up --data ${dataDir}\``);
  return r.data;
}

/**
 * NATS URL (and the CA of a tls:// one) for a command: --nats wins, then the swarm recorded in
 * --data, then $NATS_URL. The CA: $NATS_CA_FILE, else the recorded swarm's for a tls:// URL.
 * $NATS_PASSWORD_FILE, when set, holds the password of the user the URL names.
 */
export function resolveNats(opts: { nats?: string; data?: string }): { url: string; caFile?: string } {
  const c = readClusterFile(opts.data ?? DEFAULT_DATA_DIR);
  const url = opts.nats ?? c?.natsUrl ?? process.env.NATS_URL;
  const caFile = process.env.NATS_CA_FILE || (url?.startsWith('tls://') ? (c?.natsCa ?? undefined) : undefined);
  // compose's and Kubernetes' CLI: the URL names the user (admin), the password is in a file.
  const passwordFile = process.env.NATS_PASSWORD_FILE;
  if (url && passwordFile) {
    try {
      return { url: urlsWithPassword(url, readPasswordFile(passwordFile)), caFile };
    } catch (e) {
      throw new Error(`NATS_PASSWORD_FILE is set: ${(e as Error).message}`);
    }
  }
  if (url) return { url, caFile };
  throw new Error(`no swarm found in ${resolve(opts.data ?? DEFAULT_DATA_DIR)}: start one with \`swarmshare up\`, or pass --nats nats://host:4222`);
}
