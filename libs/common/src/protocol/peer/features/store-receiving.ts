import { SwarmError } from '../../../errors';
import { chunkLength, manifestIsConsistent } from '../../../file-id';
import { setNewest } from '../../../recency';
import type { Manifest } from '../../../schemas';
import type { DataSink } from '../../codec';
import { MsgType, decodeDataHeader } from '../../messages';
import type { ConnectionCore, ConnectionFeature } from '../connection-core';
import type { OfferReservation } from '../peer-handler';
import { StoreSink } from '../store-sink';

/** Manifests offered on one connection, remembered to check STORE lengths early; a few suffice. */
const MAX_OFFERED = 8;

/** Taking pushed chunks (replication): STORE_OFFER, then STORE data frames into write leases. */
export class StoreReceiving implements ConnectionFeature {
  private readonly storeSinks = new Set<StoreSink>();
  private readonly offered = new Map<string, Manifest>();
  readonly controls: ConnectionFeature['controls'] = {
    [MsgType.STORE_OFFER]: (b) => this.serveOffer(b.id, b.manifest, b.reservation),
  };
  readonly store = (header: Buffer, length: number): DataSink => this.storeSink(decodeDataHeader(MsgType.STORE, header), length);

  constructor(private readonly conn: ConnectionCore) {}

  closed(): void {
    for (const s of this.storeSinks) s.abort();
    this.storeSinks.clear();
  }

  private serveOffer(id: number, manifest: Manifest, reservation?: OfferReservation): void {
    this.conn.admit(id);
    void (async () => {
      try {
        if (!manifestIsConsistent(manifest)) throw new SwarmError('BAD_REQUEST', 'offered manifest does not match its file id');
        await this.conn.handler().offer(manifest, reservation);
        setNewest(this.offered, manifest.fileId, manifest, MAX_OFFERED);
        this.conn.reply(id, MsgType.OK, { id });
      } catch (e) {
        this.conn.settleIncoming(id, e);
      }
    })();
  }

  private storeSink(h: { id: number; index: number; fileId: string }, length: number): DataSink {
    const conn = this.conn;
    conn.admit(h.id);
    const refuse = (err: unknown): DataSink => ({ write() {}, end: () => conn.settleIncoming(h.id, err) });
    if (!conn.opts.handler) return refuse(new SwarmError('UNAVAILABLE', `${conn.opts.nodeId} accepts no chunks`));
    // With the manifest offered on this connection, a wrong index or length is refused before taking a lease.
    const m = this.offered.get(h.fileId);
    if (m) {
      if (h.index >= m.hashes.length) return refuse(new SwarmError('OUT_OF_RANGE', `chunk ${h.index} is out of range: the file has ${m.hashes.length} chunks`));
      const expected = chunkLength(m.size, m.chunkSize, h.index);
      if (expected !== length) return refuse(new SwarmError('BAD_LENGTH', `STORE of chunk ${h.index} carries ${length} bytes; the chunk is ${expected} bytes`));
    }
    const sink: StoreSink = new StoreSink(length, conn.opts.handler.openWrite(h.fileId, h.index), {
      pause: () => conn.pauseInput(),
      resume: () => conn.resumeInput(),
      finish: (err) => {
        this.storeSinks.delete(sink);
        if (err !== undefined) return conn.settleIncoming(h.id, err);
        conn.reply(h.id, MsgType.OK, { id: h.id });
      },
    });
    this.storeSinks.add(sink);
    return sink;
  }
}
