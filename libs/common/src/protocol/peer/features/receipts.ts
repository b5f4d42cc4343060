import { SwarmError } from '../../../errors';
import { MsgType } from '../../messages';
import type { ConnectionCore, ConnectionFeature } from '../connection-core';
import type { ChunkServing } from './chunk-serving';

/** RECEIPT (feature "receipt"): a downloader acks what it got from this side; the handler tells the tracker. */
export class Receipts implements ConnectionFeature {
  readonly controls: ConnectionFeature['controls'] = {
    [MsgType.RECEIPT]: (b) => this.serveReceipt(b),
  };

  constructor(
    private readonly conn: ConnectionCore,
    /** What this side served the peer: a receipt may ack no more. */
    private readonly serving: ChunkServing,
  ) {}

  private serveReceipt(r: { id: number; fileId: string; bytes: number; chunks: number }): void {
    const conn = this.conn;
    conn.admit(r.id);
    void (async () => {
      try {
        const h = conn.handler();
        if (!h.receipt) throw new SwarmError('UNAVAILABLE', `${conn.opts.nodeId} takes no receipts`);
        if (!this.serving.takeServed(r.fileId, r.bytes)) {
          const served = this.serving.servedBytes(r.fileId);
          throw new SwarmError('BAD_REQUEST', `RECEIPT claims ${r.bytes} bytes of ${r.fileId.slice(0, 12)}, but this connection served ${served}`);
        }
        await h.receipt({ fileId: r.fileId, bytes: r.bytes, chunks: r.chunks }, conn.remote!.nodeId, conn.authenticated);
        conn.reply(r.id, MsgType.OK, { id: r.id });
      } catch (e) {
        conn.settleIncoming(r.id, e);
      }
    })();
  }
}
