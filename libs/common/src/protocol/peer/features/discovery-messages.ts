import { MAX_NEIGHBOURS_LISTED, MsgType } from '../../messages';
import type { ConnectionFeature, QueryHitBody } from '../connection-core';
import type { PeerConnection } from '../peer-connection';
import { PeerRequestError } from '../peer-errors';

/** NEIGHBOURS_REQUEST, QUERY and QUERY_HIT from the peer (feature "discovery"), served by the DiscoveryHooks. */
export class DiscoveryMessages implements ConnectionFeature {
  readonly controls: ConnectionFeature['controls'] = {
    [MsgType.NEIGHBOURS_REQUEST]: (b) => {
      this.conn.admit(b.id);
      this.conn.answered(b.id);
      this.conn.sendControl(MsgType.NEIGHBOURS, { id: b.id, peers: (this.conn.opts.discovery?.neighbours(this.conn) ?? []).slice(0, MAX_NEIGHBOURS_LISTED) });
    },
    [MsgType.QUERY]: (b) => this.conn.opts.discovery?.onQuery(b, this.conn),
    [MsgType.QUERY_HIT]: (b) => this.serveQueryHit(b),
  };

  constructor(private readonly conn: PeerConnection) {}

  private serveQueryHit(hit: QueryHitBody): void {
    const conn = this.conn;
    conn.admit(hit.id);
    void (async () => {
      try {
        if (!conn.opts.discovery) throw new PeerRequestError('NOT_NEEDED', 'this side runs no query');
        await conn.opts.discovery.onQueryHit(hit, conn);
        conn.reply(hit.id, MsgType.OK, { id: hit.id });
      } catch (e) {
        conn.settleIncoming(hit.id, e);
      }
    })();
  }
}
