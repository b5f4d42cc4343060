import { natsUserName, type NatsUser, swarmNatsUsers } from './nats-users';
import { redisUserName, type RedisUser, swarmRedisUsers } from './redis-users';

/**
 * The NATS and Redis users of a deployment (compose, Kubernetes), from the same tables `swarmshare up`
 * uses (nats-users.ts, redis-users.ts), with their passwords kept in one list of `KEY=password`
 * lines (keys `nats-<user>`, `redis-<user>`): `swarmshare control-plane` keeps that list, renders the
 * servers' files from it, and hands each service its own passwords.
 */
export type ControlPlaneServer = 'nats' | 'redis';

export function passwordKey(server: ControlPlaneServer, user: string): string {
  return `${server}-${user}`;
}

/** One process of a deployment and the users it logs in as (a gateway never talks to Redis). */
export interface ServiceLogin {
  /** Also the name of its credentials: admin (the CLI), tracker, store-<node>, gateway-<node>. */
  name: string;
  nats: string;
  redis?: string;
}

export function deploymentLogins(nodeIds: string[]): ServiceLogin[] {
  return [
    { name: 'admin', nats: natsUserName('admin'), redis: redisUserName('admin') },
    { name: 'tracker', nats: natsUserName('tracker'), redis: redisUserName('tracker') },
    ...nodeIds.flatMap((id) => [
      { name: natsUserName('chunk-store', id), nats: natsUserName('chunk-store', id), redis: redisUserName('chunk-store', id) },
      { name: natsUserName('peer-gateway', id), nats: natsUserName('peer-gateway', id) },
    ]),
  ];
}

/** Every password key a deployment of these nodes needs. */
export function requiredPasswordKeys(nodeIds: string[]): string[] {
  return deploymentLogins(nodeIds).flatMap((l) => [passwordKey('nats', l.nats), ...(l.redis ? [passwordKey('redis', l.redis)] : [])]);
}

const KEY = /^(nats|redis)-[A-Za-z0-9_.-]+$/;
const PASSWORD = /^[A-Za-z0-9_.~-]{16,}$/;

/** Parse a password list (`KEY=password` lines, `#` comments); a bad line is an error naming it. */
export function parsePasswordList(text: string, source = 'the password list'): Map<string, string> {
  const out = new Map<string, string>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (eq < 0 || !KEY.test(key) || !PASSWORD.test(value)) {
      throw new Error(`${source}, line ${i + 1}: expected nats-<user>=<password> or redis-<user>=<password>, the password at least 16 of A-Z a-z 0-9 _ . ~ -`);
    }
    out.set(key, value);
  });
  return out;
}

export function renderPasswordList(passwords: Map<string, string>): string {
  const lines = [...passwords].map(([k, v]) => `${k}=${v}`);
  return `# Swarmshare control-plane passwords (swarmshare control-plane): keep secret, keep across runs.\n${lines.join('\n')}\n`;
}

/** The users of both servers for these nodes, with the passwords of `passwords` (every one must be there). */
export function controlPlaneUsers(nodeIds: string[], passwords: Map<string, string>): { nats: NatsUser[]; redis: RedisUser[] } {
  const lookup = (server: ControlPlaneServer) => (user: string) => {
    const p = passwords.get(passwordKey(server, user));
    if (!p) throw new Error(`no password for ${passwordKey(server, user)}`);
    return p;
  };
  return { nats: swarmNatsUsers(nodeIds, lookup('nats')), redis: swarmRedisUsers(nodeIds, lookup('redis')) };
}
