/**
 * What every deployment (local launcher, docker-compose.yml, k8s/) must agree on, derived from
 * libs/common: the env schema of each service and the env topology.ts builds for each role.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { z } from 'zod';
import { chunkStoreEnv, type Env, loadConfig, peerGatewayEnv, ServiceConfigSchemas, trackerEnv } from '@swarmshare/common';
import { REPO } from './helpers';

export type Role = keyof typeof ServiceConfigSchemas;
export const ROLES = Object.keys(ServiceConfigSchemas) as Role[];

/** Settings a deployment adds on top of topology.ts (the launcher adds LOG_LEVEL; containers add HTTP_PORT). */
export const DEPLOYMENT_EXTRAS = ['LOG_LEVEL', 'HTTP_PORT'] as const;
/** The tracker's gRPC admin API: deployments open it (the launcher on loopback, containers on all interfaces) with a token, over mutual TLS. */
export const ADMIN_API_EXTRAS = ['GRPC_PORT', 'GRPC_HOST', 'ADMIN_TOKEN', 'GRPC_TLS', 'GRPC_TLS_CA', 'GRPC_TLS_CERT', 'GRPC_TLS_KEY'] as const;

/** What a deployment adds for `role`. */
export function deploymentExtras(role: Role): string[] {
  return role === 'tracker' ? [...DEPLOYMENT_EXTRAS, ...ADMIN_API_EXTRAS] : [...DEPLOYMENT_EXTRAS];
}

export function schemaKeys(role: Role): string[] {
  return Object.keys((ServiceConfigSchemas[role] as z.ZodObject).shape);
}

/** Keys with neither a default nor optional: they must be set. */
export function requiredKeys(role: Role): string[] {
  const shape = (ServiceConfigSchemas[role] as z.ZodObject).shape as Record<string, z.ZodType>;
  return Object.keys(shape).filter((k) => !shape[k].safeParse(undefined).success);
}

/** Keys with a default or optional. */
export function defaultedKeys(role: Role): string[] {
  const required = new Set(requiredKeys(role));
  return schemaKeys(role).filter((k) => !required.has(k));
}

/** Throws the service's own start-up message when `env` would not start it. */
export function validateEnv(role: Role, env: Record<string, string>): void {
  loadConfig(role, ServiceConfigSchemas[role] as z.ZodObject, env);
}

/**
 * The env topology.ts produces for `role`, fed with the identity values read back from `env`
 * (URLs, node id, data dir, peer port, address). A deployment's env must equal this plus extras.
 */
export function topologyEnv(role: Role, env: Record<string, string>, extra: Env = {}): Env {
  const urls = { natsUrl: env.NATS_URL, redisUrl: env.REDIS_URL };
  const node = {
    nodeId: env.NODE_ID,
    dataDir: env.DATA_DIR,
    peerPort: Number(env.PEER_PORT),
    advertiseAddress: env.ADVERTISE_ADDRESS,
    peerHost: env.PEER_HOST,
    peerTls: env.PEER_TLS === 'off' ? ('off' as const) : env.PEER_TLS_CA !== undefined ? { ca: env.PEER_TLS_CA, cert: env.PEER_TLS_CERT, key: env.PEER_TLS_KEY } : undefined,
  };
  if (role === 'tracker') return trackerEnv(urls, extra);
  if (role === 'chunk-store') return chunkStoreEnv(urls, node, extra);
  return peerGatewayEnv(urls, node, extra);
}

/** Keys topology.ts sets for a role (with placeholder identity values). */
export function topologyKeys(role: Role): string[] {
  const placeholder = { NATS_URL: 'nats://x:4222', REDIS_URL: 'redis://x:6379', NODE_ID: 'x', DATA_DIR: '/d', PEER_PORT: '1', ADVERTISE_ADDRESS: 'x:1', PEER_HOST: '0.0.0.0', PEER_TLS_CA: '/t/ca', PEER_TLS_CERT: '/t/c', PEER_TLS_KEY: '/t/k' };
  return Object.keys(topologyEnv(role, placeholder)).sort();
}

export function readRepoFile(rel: string): string {
  return readFileSync(join(REPO, rel), 'utf8');
}
