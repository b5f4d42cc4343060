import type { Logger } from '@swarmshare/common';
import { type PeerConnection, connectPeer } from '@swarmshare/common';
import type { PeerRequestHandler } from '@swarmshare/common';

export interface PeerConnectorOptions {
  nodeId: string;
  /** Our advertised address, sent in HELLO. */
  listen: () => string | null;
  /** Outgoing connections serve the peer's requests too: the protocol is symmetric. */
  handler?: PeerRequestHandler;
  connectTimeoutMs?: number;
  logger?: Logger;
}

/** Dials holders for downloads and keeps track of the connections, so shutdown can close them. */
export class PeerConnector {
  private readonly conns = new Set<PeerConnection>();
  private closing = false;

  constructor(private readonly opts: PeerConnectorOptions) {}

  async connect(address: string, expectNodeId?: string): Promise<PeerConnection> {
    if (this.closing) throw new Error('gateway is shutting down');
    const conn = await connectPeer(address, {
      nodeId: this.opts.nodeId,
      listen: this.opts.listen(),
      handler: this.opts.handler,
      expectNodeId,
      connectTimeoutMs: this.opts.connectTimeoutMs,
      logger: this.opts.logger,
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
