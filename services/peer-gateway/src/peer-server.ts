import { createServer, type Server, type Socket } from 'node:net';
import { type Logger, MsgType, encodeControl } from '@swarmshare/common';
import { PeerConnection } from '@swarmshare/common';
import type { PeerRequestHandler } from '@swarmshare/common';

export interface PeerServerOptions {
  nodeId: string;
  host: string;
  /** 0 = let the OS choose. */
  port: number;
  /** host:port peers should dial; defaults to 127.0.0.1:<bound port>. */
  advertise?: string;
  maxConnections: number;
  handler: PeerRequestHandler;
  logger?: Logger;
  handshakeTimeoutMs?: number;
}

/** The TCP listener: every accepted socket becomes a PeerConnection served by the local handler. */
export class PeerServer {
  private server?: Server;
  private readonly conns = new Set<PeerConnection>();
  private bound?: { host: string; port: number };

  constructor(private readonly opts: PeerServerOptions) {}

  async listen(): Promise<void> {
    const server = createServer((socket) => this.accept(socket));
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
    return this.opts.advertise ?? `127.0.0.1:${this.bound.port}`;
  }

  get port(): number {
    if (!this.bound) throw new Error('peer server is not listening yet');
    return this.bound.port;
  }

  get connections(): number {
    return this.conns.size;
  }

  private accept(socket: Socket): void {
    if (this.conns.size >= this.opts.maxConnections) {
      // Say why instead of a bare reset; ERROR may precede HELLO.
      socket.on('error', () => undefined);
      socket.end(encodeControl(MsgType.ERROR, { code: 'UNAVAILABLE', message: `too many connections (MAX_CONNECTIONS=${this.opts.maxConnections})`, fatal: true }));
      setTimeout(() => socket.destroy(), 2000).unref();
      return;
    }
    const conn = new PeerConnection(socket, {
      nodeId: this.opts.nodeId,
      listen: this.address,
      handler: this.opts.handler,
      handshakeTimeoutMs: this.opts.handshakeTimeoutMs,
      logger: this.opts.logger,
    });
    this.conns.add(conn);
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
