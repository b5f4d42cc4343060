import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  controlPlaneUsers,
  deploymentLogins,
  natsAuthorizationInclude,
  natsServerConfig,
  newPassword,
  parsePasswordList,
  passwordKey,
  redisAclFile,
  renderPasswordList,
  requiredPasswordKeys,
} from '@swarmshare/common/security';
import { NATS_TLS_ID, REDIS_TLS_ID } from '../launcher/peer-pki';

/**
 * `swarmshare control-plane`: the NATS and Redis users of a compose or Kubernetes deployment (issue 11),
 * rendered by the same code `swarmshare up` uses (nats-users.ts, redis-users.ts). A random password per
 * user is made once and kept in a password list; running it again with more nodes adds theirs and
 * keeps the others.
 *
 * compose (`--target compose`, the one-shot service `control-plane`), under OUT:
 *   state/passwords.env                  the password list (only this service mounts it)
 *   nats/nats.conf (+ TLS files)         nats-server's whole configuration, mounted at /etc/nats
 *   redis/users.acl (+ TLS files)        redis-server's ACL file, mounted at /etc/redis
 *   credentials/<login>/                 nats-password, redis-password, ca.pem: one volume per process,
 *                                        mounted at /run/swarmshare in that process only
 * Kubernetes (`--target k8s`), under OUT (k8s/control-plane, which kustomize makes a Secret of):
 *   passwords.env, nats-users.conf (the authorization block nats.conf includes), users.acl
 */
export interface ControlPlaneOptions {
  target: 'compose' | 'k8s';
  out: string;
  nodes: string[];
  /** compose: the peer PKI directory holding ca.pem and the nats-server / redis-server certificates; TLS for both servers. */
  pki?: string;
  /**
   * compose: owners to give the files when run as root (new named volumes are root's): each
   * process's credentials to the services' user, Redis's files to redis-server's; nats-server's stay root's.
   */
  owners?: { services: Owner; redis: Owner };
}

export type Owner = { uid: number; gid: number };

/** `1000:1000` as an owner. */
export function parseOwner(flag: string, v: string): Owner {
  const m = /^(\d+):(\d+)$/.exec(v);
  if (!m) throw new Error(`${flag} ${v}: expected uid:gid, e.g. 1000:1000`);
  return { uid: Number(m[1]), gid: Number(m[2]) };
}

function chownAll(paths: string[], owner: Owner | undefined): void {
  if (owner) for (const p of paths) chownSync(p, owner.uid, owner.gid);
}

/** nats-server's JetStream store in compose (the volume nats-data is mounted there). */
export const COMPOSE_NATS_STORE_DIR = '/data';
/** Where compose mounts the rendered files (docker-compose.yml). */
const COMPOSE_MOUNTS = { nats: '/etc/nats', redis: '/etc/redis', credentials: '/run/swarmshare' } as const;
/** The server certificates in the peer PKI (`swarmshare pki nats-server redis-server --host ...`): the ids `up` issues. */
const SERVER_CERT_IDS = { nats: NATS_TLS_ID, redis: REDIS_TLS_ID } as const;

const OWNER_ONLY = 0o600;
/** redis-server runs as 999:1000 (the image's redis user) and reads through the group this runs as (1000). */
const GROUP_READ = 0o640;

function write(path: string, text: string, mode: number): void {
  writeFileSync(path, text, { mode });
  chmodSync(path, mode);
}

function copy(from: string, to: string, mode: number): void {
  if (!existsSync(from)) throw new Error(`${from} is missing: issue it first (\`swarmshare pki --dir <pki> nats-server redis-server --host nats-server=... --host redis-server=...\`)`);
  copyFileSync(from, to);
  chmodSync(to, mode);
}

/** The password list at `path`, with a new password for every key these nodes need and it lacks. */
function passwordsFor(path: string, nodes: string[]): { passwords: Map<string, string>; added: string[] } {
  const passwords = existsSync(path) ? parsePasswordList(readFileSync(path, 'utf8'), path) : new Map<string, string>();
  const added = requiredPasswordKeys(nodes).filter((k) => !passwords.has(k));
  for (const k of added) passwords.set(k, newPassword());
  return { passwords, added };
}

export function renderControlPlane(o: ControlPlaneOptions): string[] {
  if (!o.nodes.length) throw new Error('no nodes: pass --nodes a,b,c (or --statefulset NAME --replicas N)');
  const listPath = o.target === 'compose' ? join(o.out, 'state', 'passwords.env') : join(o.out, 'passwords.env');
  mkdirSync(dirname(listPath), { recursive: true, mode: 0o700 });
  const { passwords, added } = passwordsFor(listPath, o.nodes);
  write(listPath, renderPasswordList(passwords), OWNER_ONLY);
  const users = controlPlaneUsers(o.nodes, passwords);
  const written = [listPath];
  if (o.target === 'k8s') {
    write(join(o.out, 'nats-users.conf'), natsAuthorizationInclude(users.nats), OWNER_ONLY);
    write(join(o.out, 'users.acl'), redisAclFile(users.redis), OWNER_ONLY);
    written.push(join(o.out, 'nats-users.conf'), join(o.out, 'users.acl'));
  } else {
    const natsDir = join(o.out, 'nats');
    const redisDir = join(o.out, 'redis');
    mkdirSync(natsDir, { recursive: true });
    mkdirSync(redisDir, { recursive: true });
    const tls = (server: 'nats' | 'redis') => {
      const id = SERVER_CERT_IDS[server];
      const dir = server === 'nats' ? natsDir : redisDir;
      const mode = server === 'nats' ? OWNER_ONLY : GROUP_READ;
      copy(join(o.pki!, 'ca.pem'), join(dir, 'ca.pem'), 0o644);
      copy(join(o.pki!, `${id}.pem`), join(dir, `${id}.pem`), 0o644);
      copy(join(o.pki!, `${id}.key`), join(dir, `${id}.key`), mode);
      const at = COMPOSE_MOUNTS[server];
      return { certFile: `${at}/${id}.pem`, keyFile: `${at}/${id}.key`, caFile: `${at}/ca.pem` };
    };
    write(join(natsDir, 'nats.conf'), natsServerConfig({ host: '0.0.0.0', port: 4222, storeDir: COMPOSE_NATS_STORE_DIR, users: users.nats, ...(o.pki ? { tls: tls('nats') } : {}) }), OWNER_ONLY);
    write(join(redisDir, 'users.acl'), redisAclFile(users.redis), GROUP_READ);
    if (o.pki) tls('redis');
    chownAll([redisDir, join(redisDir, 'users.acl'), ...(o.pki ? ['ca.pem', `${REDIS_TLS_ID}.pem`, `${REDIS_TLS_ID}.key`].map((f) => join(redisDir, f)) : [])], o.owners?.redis);
    written.push(join(natsDir, 'nats.conf'), join(redisDir, 'users.acl'));
    for (const login of deploymentLogins(o.nodes)) {
      const dir = join(o.out, 'credentials', login.name);
      mkdirSync(dir, { recursive: true });
      const files = [join(dir, 'nats-password')];
      write(files[0], `${passwords.get(passwordKey('nats', login.nats))}\n`, OWNER_ONLY);
      if (login.redis) files.push(join(dir, 'redis-password'));
      if (login.redis) write(files[1], `${passwords.get(passwordKey('redis', login.redis))}\n`, OWNER_ONLY);
      if (o.pki) files.push(join(dir, 'ca.pem'));
      if (o.pki) copy(join(o.pki, 'ca.pem'), files[files.length - 1], 0o644);
      chownAll([dir, ...files], o.owners?.services);
      written.push(dir);
    }
  }
  if (added.length) written.push(`(new passwords: ${added.join(' ')})`);
  return written;
}
