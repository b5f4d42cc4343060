import {
  connectPeer,
  type Logger,
  type PeerConnection,
  type PeerConnectionOptions,
  type PeerRequestHandler,
  type PeerTlsMaterial,
} from '@swarmshare/common';
import type { ConnectionExtensions } from './connection-extensions';

export interface PeerConnectorOptions {
  nodeId: string;
  /** Our advertised address, sent in HELLO. */
  listen: () => string | null;
  /** Outgoing connections serve the peer's requests too: the protocol is symmetric. */
  handler?: PeerRequestHandler;
  connectTimeoutMs?: number;
  /** PEER_ANSWER_TIMEOUT_MS: a holder that leaves our MANIFEST_REQUEST or HAVE_REQUEST unanswered this long is cut off. */
  answerTimeoutMs?: number;
  logger?: Logger;
  /** HELLO features (unless a dial names its own) and the discovery messages' handler. */
  extensions?: ConnectionExtensions;
  onChunkBytes?: PeerConnectionOptions['onChunkBytes'];
  /** Peer mutual TLS: dial with this node's certificate; a holder must prove the node id it is dialled as. */
  tls?: PeerTlsMaterial;
  /** PEER_WRITE_QUEUE_BYTES: control bytes a connection may have queued for a peer that does not read. */
  maxWriteQueueBytes?: number;
}

/** Dials holders for downloads and keeps track of the connections, so shutdown can close them. */
export class PeerConnector {
  private readonly conns = new Set<PeerConnection>();
  private closing = false;

  constructor(private readonly opts: PeerConnectorOptions) {}

  /** `o.opened`: runs on the peer's HELLO, before any later frame of it is read (the overlay adopts its links there). */
  async connect(address: string, expectNodeId?: string, o: { features?: string[]; connectTimeoutMs?: number; opened?(conn: PeerConnection): void } = {}): Promise<PeerConnection> {
    if (this.closing) throw new Error('gateway is shutting down');
    const conn = await connectPeer(address, {
      nodeId: this.opts.nodeId,
      listen: this.opts.listen(),
      handler: this.opts.handler,
      expectNodeId,
      connectTimeoutMs: o.connectTimeoutMs ?? this.opts.connectTimeoutMs,
      // A peer that never says HELLO (a connect-back to a port that is no gateway) costs the connect timeout, no more.
      handshakeTimeoutMs: o.connectTimeoutMs,
      answerTimeoutMs: this.opts.answerTimeoutMs,
      logger: this.opts.logger,
      features: o.features ?? this.opts.extensions?.features,
      discovery: this.opts.extensions?.discovery,
      onChunkBytes: this.opts.onChunkBytes,
      tls: this.opts.tls,
      maxWriteQueueBytes: this.opts.maxWriteQueueBytes,
      opened: o.opened,
    });
    if (this.closing) {
      conn.close('gateway is shutting down');
      throw new Error('gateway is shutting down');
    }
    this.conns.add(conn);
    void conn.closed.then(() => this.conns.delete(conn));
    return conn;
  }

  get connections(): number {
    return this.conns.size;
  }

  closeAll(reason: string): void {
    this.closing = true;
    for (const c of this.conns) c.fail('UNAVAILABLE', reason);
  }
}
