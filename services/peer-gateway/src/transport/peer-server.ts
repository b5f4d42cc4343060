import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import {
  encodeControl,
  identityFromSubjectAltName,
  type Logger,
  MsgType,
  PeerConnection,
  type PeerConnectionOptions,
  type PeerRequestHandler,
  type PeerTlsMaterial,
  peerTlsServerOptions,
} from '@swarmshare/common';
import type { ConnectionExtensions } from './connection-extensions';
import type { UploadGate } from './upload-slots';

export interface PeerServerOptions {
  nodeId: string;
  host: string;
  /** 0 = let the OS choose. */
  port: number;
  /** host:port peers should dial; defaults to host:<bound port> for a specific IPv4 host, else 127.0.0.1:<bound port>. */
  advertise?: string;
  maxConnections: number;
  /**
   * MAX_CONNECTIONS_PER_ADDRESS: connections from one remote IP address at once, TLS handshakes
   * in progress included. Past it a connection is dropped on arrival, before TLS or any frame.
   */
  maxConnectionsPerAddress?: number;
  /** PEER_IDLE_TIMEOUT_MS: an accepted connection on which nothing moves for this long after HELLO is closed. */
  idleTimeoutMs?: number;
  /** PEER_WRITE_QUEUE_BYTES: control bytes an accepted connection may have queued for a peer that does not read. */
  maxWriteQueueBytes?: number;
  handler: PeerRequestHandler;
  logger?: Logger;
  handshakeTimeoutMs?: number;
  /** PEER_ANSWER_TIMEOUT_MS for the MANIFEST/HAVE requests we make on accepted connections (a connect-back link serves downloads). */
  answerTimeoutMs?: number;
  /** HELLO features, the discovery messages' handler and who hears of accepted connections. */
  extensions?: ConnectionExtensions;
  /** Upload slots and the upload bandwidth limit, applied to every accepted connection. */
  uploads?: UploadGate;
  /** Chunk bytes moved on accepted connections, for per-peer metrics. */
  onChunkBytes?: PeerConnectionOptions['onChunkBytes'];
  /**
   * Peer mutual TLS: only peers with a certificate from this CA get past the TLS handshake (no
   * frame of anyone else is parsed, plaintext included), and each must say HELLO as the node its
   * certificate names. Unset = plaintext (PEER_TLS=off).
   */
  tls?: PeerTlsMaterial;
}

const DEFAULT_TLS_HANDSHAKE_MS = 10_000;

/** At most one warning about refused over-cap connections per this long (a flood must not flood the log). */
const CAP_LOG_INTERVAL_MS = 10_000;

/** The remote IP of a socket, an IPv4-mapped IPv6 address as plain IPv4. */
export function remoteIp(socket: Socket): string {
  const a = socket.remoteAddress ?? 'unknown';
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}

/** The TCP listener: every accepted socket becomes a PeerConnection served by the local handler. */
export class PeerServer {
  private server?: Server;
  private readonly conns = new Set<PeerConnection>();
  private bound?: { host: string; port: number };
  /** Open sockets per remote IP (TLS handshakes in progress included); an address leaves at 0. */
  private readonly perAddress = new Map<string, number>();
  private refusedSinceLog = 0;
  private lastCapLog = 0;

  constructor(private readonly opts: PeerServerOptions) {}

  async listen(): Promise<void> {
    const tls = this.opts.tls;
    const server = tls
      ? createTlsServer(peerTlsServerOptions(tls, this.opts.handshakeTimeoutMs ?? DEFAULT_TLS_HANDSHAKE_MS), (socket) => this.acceptTls(socket))
      : createServer((socket) => this.admitAddress(socket, true) && this.accept(socket));
    // The per-address cap is applied on the raw TCP connection, ahead of the TLS handshake: an
    // address past it costs us neither a handshake nor a parsed frame.
    if (tls) server.on('connection', (socket: Socket) => this.admitAddress(socket, false));
    // A refused handshake (no certificate, another CA, plaintext) never reaches the protocol; debug
    // only, so a scanner cannot flood the log.
    server.on('tlsClientError', (e: Error, s: TLSSocket) => this.opts.logger?.debug({ peer: `${s.remoteAddress}:${s.remotePort}`, reason: e.message.slice(0, 200) }, 'refused a peer at the TLS handshake'));
    // A failure on one accepted socket is that connection's business; the listener keeps going.
    server.on('error', (e) => this.opts.logger?.error({ err: e.message }, 'peer listener error'));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
    const a = server.address() as { address: string; port: number };
    this.bound = { host: a.address, port: a.port };
    this.server = server;
  }

  /** The address peers should use (the ready log line and the tracker get this). */
  get address(): string {
    if (!this.bound) throw new Error('peer server is not listening yet');
    if (this.opts.advertise) return this.opts.advertise;
    // Bound to one specific address (a host or namespace of its own): that is where peers reach us.
    // Only a wildcard bind falls back to loopback, which works on one machine only.
    const h = this.opts.host;
    const specific = h !== '0.0.0.0' && h !== '::' && h !== '' && /^[0-9.]+$/.test(h);
    return `${specific ? h : '127.0.0.1'}:${this.bound.port}`;
  }

  get port(): number {
    if (!this.bound) throw new Error('peer server is not listening yet');
    return this.bound.port;
  }

  get connections(): number {
    return this.conns.size;
  }

  /** Sockets open from `ip` now (tests and info). */
  connectionsFrom(ip: string): number {
    return this.perAddress.get(ip) ?? 0;
  }

  /**
   * Count the raw connection against its address; past MAX_CONNECTIONS_PER_ADDRESS it is dropped
   * before any byte is read: plaintext gets a fatal ERROR saying why, TLS a bare close (telling it
   * would take a handshake).
   */
  private admitAddress(socket: Socket, plaintext: boolean): boolean {
    const cap = this.opts.maxConnectionsPerAddress;
    if (cap === undefined) return true;
    const ip = remoteIp(socket);
    const open = this.perAddress.get(ip) ?? 0;
    if (open >= cap) {
      this.noteRefused(ip, cap);
      if (plaintext) this.refuse(socket, `too many connections from ${ip} (MAX_CONNECTIONS_PER_ADDRESS=${cap})`);
      else socket.destroy();
      return false;
    }
    this.perAddress.set(ip, open + 1);
    socket.once('close', () => {
      const n = (this.perAddress.get(ip) ?? 1) - 1;
      if (n <= 0) this.perAddress.delete(ip);
      else this.perAddress.set(ip, n);
    });
    return true;
  }

  /** Close a socket we will not serve with a fatal ERROR saying why (ERROR may precede HELLO); nothing of it is read. */
  private refuse(socket: Socket, message: string): void {
    socket.on('error', () => undefined);
    socket.end(encodeControl(MsgType.ERROR, { code: 'UNAVAILABLE', message, fatal: true }));
    setTimeout(() => socket.destroy(), 2000).unref();
  }

  private noteRefused(ip: string, cap: number): void {
    this.refusedSinceLog++;
    const now = Date.now();
    if (now - this.lastCapLog < CAP_LOG_INTERVAL_MS) return;
    this.opts.logger?.warn({ peer: ip, refused: this.refusedSinceLog, cap }, `refused connections over MAX_CONNECTIONS_PER_ADDRESS=${cap}; raise it if many nodes share one address (NAT)`);
    this.lastCapLog = now;
    this.refusedSinceLog = 0;
  }

  private acceptTls(socket: TLSSocket): void {
    const identity = identityFromSubjectAltName(socket.getPeerCertificate().subjectaltname);
    if (!identity) {
      socket.destroy();
      return;
    }
    this.accept(socket, identity);
  }

  private accept(socket: Socket, peerIdentity?: string): void {
    if (socket.destroyed) return; // refused over the per-address cap during the TLS handshake
    if (this.conns.size >= this.opts.maxConnections) {
      // Say why instead of a bare reset.
      this.refuse(socket, `too many connections (MAX_CONNECTIONS=${this.opts.maxConnections})`);
      return;
    }
    const key = `${socket.remoteAddress}:${socket.remotePort}`;
    // Bound late: the peer's node id is known once its HELLO arrived.
    let self: PeerConnection | undefined;
    const handler = this.opts.uploads ? this.opts.uploads.forPeer(this.opts.handler, () => self?.remote?.nodeId ?? key) : this.opts.handler;
    const conn = new PeerConnection(socket, {
      nodeId: this.opts.nodeId,
      listen: this.address,
      handler,
      handshakeTimeoutMs: this.opts.handshakeTimeoutMs,
      idleTimeoutMs: this.opts.idleTimeoutMs,
      maxWriteQueueBytes: this.opts.maxWriteQueueBytes,
      answerTimeoutMs: this.opts.answerTimeoutMs,
      logger: this.opts.logger,
      features: this.opts.extensions?.features,
      discovery: this.opts.extensions?.discovery,
      onChunkBytes: this.opts.onChunkBytes,
      peerIdentity,
    });
    self = conn;
    this.conns.add(conn);
    this.opts.extensions?.accepted(conn);
    void conn.ready.then(
      (h) => this.opts.logger?.debug({ peer: conn.label, remoteNode: h.nodeId }, 'peer connected'),
      () => undefined,
    );
    void conn.closed.then(() => this.conns.delete(conn));
  }

  /** Stop accepting; connections already open carry on until closeAll. */
  stopAccepting(): void {
    this.server?.close();
  }

  closeAll(reason: string): void {
    for (const c of this.conns) c.fail('UNAVAILABLE', reason);
  }
}
