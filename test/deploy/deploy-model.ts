/**
 * What every deployment (local launcher, docker-compose.yml, k8s/) must agree on, derived from
 * libs/common: the env schema of each service and the env topology.ts builds for each role.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
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

/**
 * Its NATS and Redis logins (issue 11): the URL names the process's own user, the password is in a
 * file (compose: its creds volume; Kubernetes: a Secret), and the servers' CA verifies TLS.
 */
export const NATS_LOGIN_EXTRAS = ['NATS_PASSWORD_FILE', 'NATS_CA_FILE'] as const;
export const REDIS_LOGIN_EXTRAS = ['REDIS_PASSWORD_FILE', 'REDIS_CA_FILE'] as const;

/** What a deployment adds for `role`. */
export function deploymentExtras(role: Role): string[] {
  const logins = role === 'peer-gateway' ? [...NATS_LOGIN_EXTRAS] : [...NATS_LOGIN_EXTRAS, ...REDIS_LOGIN_EXTRAS];
  return role === 'tracker' ? [...DEPLOYMENT_EXTRAS, ...logins, ...ADMIN_API_EXTRAS] : [...DEPLOYMENT_EXTRAS, ...logins];
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

/** Settings naming a file the service reads at start-up (and checks is readable). */
const FILE_SETTINGS = [...NATS_LOGIN_EXTRAS, ...REDIS_LOGIN_EXTRAS];

/**
 * Throws the service's own start-up message when `env` would not start it. Files the container has
 * (password files, CAs) do not exist here: each is stood in for by a readable file holding a
 * password, so the check is of everything else (e.g. that the URL names a user and no password).
 */
export function validateEnv(role: Role, env: Record<string, string>): void {
  const dir = mkdtempSync(join(tmpdir(), 'ss-deploy-env-'));
  try {
    const stand = join(dir, 'file');
    writeFileSync(stand, 'a-password-for-the-check-0123\n');
    const local = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, (FILE_SETTINGS as readonly string[]).includes(k) ? stand : v]));
    loadConfig(role, ServiceConfigSchemas[role] as z.ZodObject, local);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
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
