import { downloadProgressSubject, EventSubjects, FactSubjects, TRACKER_QUEUE, TrackerSubjects } from '../subjects';
import { FACTS_STREAM, TRACKER_FACTS_CONSUMER } from '../nats/facts-stream';

/**
 * NATS least privilege (issue 11): one user per service kind and per node, each allowed only the
 * subjects its code publishes and subscribes. `swarmshare up` writes these into nats-server's
 * configuration; compose and Kubernetes ship the same users (checked by test/deploy).
 *
 * Every service may subscribe to `_INBOX.>` (the replies to its own requests, and JetStream's) and
 * `$SRV.>` (the NATS services API its micro service answers), and may answer any request it
 * received (`allow_responses`); nothing else is implied.
 */
export type NatsUserKind = 'tracker' | 'chunk-store' | 'peer-gateway' | 'admin';

export interface NatsPermissions {
  /** `deny` wins over `allow` (nats-server): a broad grant minus the operators' subjects. */
  publish: { allow: string[]; deny?: string[] };
  subscribe: { allow: string[] };
  allow_responses: boolean;
}

export interface NatsUser {
  user: string;
  password: string;
  /** Absent for the admin user (the CLI): it may do everything. */
  permissions?: NatsPermissions;
}

const INBOX = '_INBOX.>';
const MICRO = '$SRV.>';
/** JetStream calls of a facts publisher: account info, and find-or-create the facts stream. */
const FACTS_STREAM_API = ['$JS.API.INFO', `$JS.API.STREAM.INFO.${FACTS_STREAM}`, `$JS.API.STREAM.CREATE.${FACTS_STREAM}`, `$JS.API.STREAM.UPDATE.${FACTS_STREAM}`];
/** ...and of the trackers' durable consumer: create/look it up, pull, ack. */
const FACTS_CONSUMER_API = [
  `$JS.API.CONSUMER.CREATE.${FACTS_STREAM}`,
  `$JS.API.CONSUMER.CREATE.${FACTS_STREAM}.>`,
  `$JS.API.CONSUMER.DURABLE.CREATE.${FACTS_STREAM}.${TRACKER_FACTS_CONSUMER}`,
  `$JS.API.CONSUMER.INFO.${FACTS_STREAM}.${TRACKER_FACTS_CONSUMER}`,
  `$JS.API.CONSUMER.MSG.NEXT.${FACTS_STREAM}.${TRACKER_FACTS_CONSUMER}`,
  `$JS.ACK.${FACTS_STREAM}.${TRACKER_FACTS_CONSUMER}.>`,
];

/** The NATS user name of a service: `tracker`, `store-<node>`, `gateway-<node>`, `admin`. */
export function natsUserName(kind: NatsUserKind, nodeId?: string): string {
  if (kind === 'tracker' || kind === 'admin') return kind;
  if (!nodeId) throw new Error(`a ${kind} NATS user belongs to a node: pass its node id`);
  return `${kind === 'chunk-store' ? 'store' : 'gateway'}-${nodeId}`;
}

export function natsPermissions(kind: Exclude<NatsUserKind, 'admin'>, nodeId?: string): NatsPermissions {
  const grant = (publish: string[], subscribe: string[]): NatsPermissions => ({
    publish: { allow: publish },
    subscribe: { allow: [...subscribe, INBOX, MICRO] },
    allow_responses: true,
  });
  if (kind === 'tracker') {
    // Only trackers take tracker requests, and only in their queue group ("subject queue" form).
    // The admin API reads stores and drives gateways of every node, and deletes on nodes (admin.>).
    return grant(
      ['swarm.node.*.store.have', 'swarm.node.*.store.stats', 'swarm.node.*.store.files', 'swarm.node.*.gateway.>', 'swarm.node.*.admin.>', ...FACTS_STREAM_API, ...FACTS_CONSUMER_API],
      [`swarm.tracker.> ${TRACKER_QUEUE}`, EventSubjects.downloadProgress],
    );
  }
  if (!nodeId) throw new Error(`a ${kind} NATS user belongs to a node: pass its node id`);
  const node = `swarm.node.${nodeId}`;
  // The store tells its own gateway about corrupt chunks its scrub found (storeSubjects().corrupt).
  if (kind === 'chunk-store') return grant([EventSubjects.fileCompleted, `${node}.store.evt.corrupt`, ...FACTS_STREAM_API], [`${node}.store.>`]);
  // The gateway is the only client of its node's store, and a client of the trackers; what it tells
  // a tracker that does not answer goes to the facts stream instead (FactSubjects).
  // It serves its node's admin subjects (delete, gc, pin, unpin) but may not call the operators' tracker ones,
  // nor another node's admin subjects (no grant names them: only the tracker and the admin user may).
  const perms = grant(
    [`${node}.store.>`, 'swarm.tracker.>', downloadProgressSubject(nodeId), EventSubjects.replicateProgress, ...Object.values(FactSubjects), ...FACTS_STREAM_API],
    [`${node}.gateway.>`, `${node}.store.evt.corrupt`, `${node}.admin.>`],
  );
  perms.publish.deny = ['swarm.tracker.admin.>'];
  return perms;
}

/** Every user of a swarm: admin, tracker, and per node its store and gateway; `password` makes each one's. */
export function swarmNatsUsers(nodeIds: string[], password: (user: string) => string): NatsUser[] {
  const user = (kind: NatsUserKind, nodeId?: string): NatsUser => {
    const name = natsUserName(kind, nodeId);
    return { user: name, password: password(name), ...(kind === 'admin' ? {} : { permissions: natsPermissions(kind, nodeId) }) };
  };
  return [user('admin'), user('tracker'), ...nodeIds.flatMap((id) => [user('chunk-store', id), user('peer-gateway', id)])];
}

export interface NatsServerConfigOptions {
  host: string;
  port: number;
  /** JetStream's store directory. */
  storeDir: string;
  users: NatsUser[];
  /** TLS for clients: the server's certificate and key (PEM files), and the CA clients' certificates would chain to. */
  tls?: NatsServerTls;
}

export interface NatsServerTls {
  certFile: string;
  keyFile: string;
  caFile?: string;
}

/** Seconds nats-server gives a client's TLS handshake (its default, 0.5 s, is short for a loaded host). */
const NATS_TLS_HANDSHAKE_S = 2;

/**
 * nats-server's configuration file. Its format is a superset of JSON, so this is JSON. Every
 * connection must log in: there is no anonymous user (`no_auth_user` is not set).
 */
export function natsServerConfig(o: NatsServerConfigOptions): string {
  const conf = {
    host: o.host,
    port: o.port,
    jetstream: { store_dir: o.storeDir },
    authorization: natsAuthorization(o.users),
    // With a tls block, nats-server refuses a client that does not start TLS.
    ...(o.tls ? { tls: { cert_file: o.tls.certFile, key_file: o.tls.keyFile, ...(o.tls.caFile ? { ca_file: o.tls.caFile } : {}), timeout: NATS_TLS_HANDSHAKE_S } } : {}),
  };
  return `${JSON.stringify(conf, null, 2)}\n`;
}

/** nats-server's `authorization` block: every user with its password and permissions. */
export function natsAuthorization(users: NatsUser[]): { users: Array<{ user: string; password: string; permissions?: NatsPermissions }> } {
  return { users: users.map((u) => ({ user: u.user, password: u.password, ...(u.permissions ? { permissions: u.permissions } : {}) })) };
}

/**
 * The `authorization` block alone, as a file another nats-server configuration includes
 * (`include ../auth/nats-users.conf`; Kubernetes keeps it in a Secret, the rest in a ConfigMap).
 */
export function natsAuthorizationInclude(users: NatsUser[]): string {
  return `authorization: ${JSON.stringify(natsAuthorization(users), null, 2)}\n`;
}
