import { connect, type NatsConnection } from 'nats';

/* The plain NATS client, without Nest: what the CLI loads (see connect.ts for the Nest transport). */

export interface NatsServerOptions {
  servers: string[];
  user?: string;
  pass?: string;
  token?: string;
  /** Set for `tls://` servers or a CA file: the client then refuses a server without TLS. */
  tls?: { caFile?: string };
}

/**
 * NATS_URL as nats.js wants it. nats.js ignores credentials written in a server URL, so
 * `nats://user:pass@host:4222` (or `nats://token@host:4222`) is split into servers without them plus
 * user/pass (or token): a Kubernetes Secret can then hold one URL with its credentials.
 */
export function natsServerOptions(url: string, caFile?: string): NatsServerOptions {
  const out: NatsServerOptions = { servers: [] };
  for (const raw of url.split(',').map((s) => s.trim()).filter(Boolean)) {
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      out.servers.push(raw);
      continue;
    }
    if (u.username) {
      const user = decodeURIComponent(u.username);
      const pass = u.password ? decodeURIComponent(u.password) : undefined;
      if (pass !== undefined) Object.assign(out, { user, pass });
      else out.token = user;
      u.username = '';
      u.password = '';
    }
    out.servers.push(u.toString().replace(/\/$/, ''));
  }
  // TLS to NATS (issue 11): a tls:// URL or a CA (NATS_CA_FILE) makes TLS required, verified against
  // that CA (else the system's).
  if (caFile || out.servers.some((s) => s.startsWith('tls://'))) out.tls = caFile ? { caFile } : {};
  return out;
}


/**
 * How services (and long-lived clients) reconnect: forever, every 250 ms plus at most 100 ms of
 * jitter. nats.js adds up to 1 s of jitter over TLS by default, which left a node deaf for over a
 * second after a nats-server restart, and a `fetch` started at once found nobody answering.
 */
export const RECONNECT_FOREVER = { maxReconnectAttempts: -1, reconnectTimeWait: 250, reconnectJitter: 100, reconnectJitterTLS: 100 } as const;

/**
 * nats.js captures two stack traces per request (an Error for the caller's context and a Timeout
 * error made up front) unless told not to: in a 9-node fleet profile the Timeout errors alone took
 * over 1 s of the gateways' CPU, on the path of every lease, close and HAVE. Our request errors
 * name their subject instead (NatsRpc).
 */
export const NO_ASYNC_TRACES = { noAsyncTraces: true } as const;

/**
 * A raw client connection that reconnects forever. Services wait for the server on first connect;
 * a CLI passes waitOnFirstConnect=false so a missing server is an immediate, clear error.
 */
export function connectNats(url: string, name: string, waitOnFirstConnect = true, caFile?: string): Promise<NatsConnection> {
  return connect({ ...natsServerOptions(url, caFile), name, waitOnFirstConnect, ...RECONNECT_FOREVER, ...NO_ASYNC_TRACES });
}
