import { Bitfield } from '../../../bitfield';
import { setNewest } from '../../../recency';
import { ProtocolError } from '../../codec';
import { HAVE_UPDATES_FEATURE, MAX_HAVE_UPDATE_INDEXES, MsgType } from '../../messages';
import type { ConnectionCore, ConnectionFeature } from '../connection-core';
import type { PeerClosedError } from '../peer-errors';
import type { HaveUpdateTarget } from '../peer-handler';

interface HaveWaiter {
  resolve(h: { chunkCount: number; bitfield: Bitfield }): void;
  reject(e: Error): void;
}

/** Chunk counts learnt from HAVEs on one connection, to check HAVE_UPDATEs (the oldest is forgotten first). */
const MAX_HAVE_COUNTS = 64;

/**
 * HAVE_REQUEST / HAVE (answered by file id, in order per file) and HAVE_UPDATE (feature
 * "have-updates"): the chunks a peer has, and the ones it stores later.
 */
export class HaveExchange implements ConnectionFeature {
  private readonly waiters = new Map<string, HaveWaiter[]>();
  /** Chunk count per file, from the HAVEs the peer sent us: a HAVE_UPDATE is checked against it. */
  private readonly haveCounts = new Map<string, number>();
  private readonly updateListeners = new Set<(fileId: string, indexes: number[]) => void>();
  readonly controls: ConnectionFeature['controls'] = {
    [MsgType.HAVE_REQUEST]: (b) => this.serveHave(b.fileId),
    [MsgType.HAVE]: (b) => this.onHave(b),
    [MsgType.HAVE_UPDATE]: (b) => this.onUpdate(b),
  };

  /** `conn` is also what the request handler is given to send HAVE_UPDATEs through (PeerConnection). */
  constructor(private readonly conn: ConnectionCore & HaveUpdateTarget) {}

  have(fileId: string): Promise<{ chunkCount: number; bitfield: Bitfield }> {
    this.conn.assertCanRequest('have');
    return new Promise((resolve, reject) => {
      const list = this.waiters.get(fileId) ?? [];
      list.push({ resolve, reject });
      this.waiters.set(fileId, list);
      this.conn.outgoingHaves++;
      this.conn.sendControl(MsgType.HAVE_REQUEST, { fileId });
    });
  }

  /**
   * Have-updates: `listener` hears the chunks the peer stored after it answered our HAVE for that
   * file (only files we asked about, indexes already checked). Returns the unsubscribe function.
   */
  onHaveUpdate(listener: (fileId: string, indexes: number[]) => void): () => void {
    this.updateListeners.add(listener);
    return () => this.updateListeners.delete(listener);
  }

  /** HAVE_UPDATE, split into frames of at most MAX_HAVE_UPDATE_INDEXES; only to a peer that announced the feature. */
  sendHaveUpdate(fileId: string, indexes: number[]): void {
    if (this.conn.state !== 'open' || !this.conn.remote?.features.includes(HAVE_UPDATES_FEATURE)) return;
    for (let k = 0; k < indexes.length; k += MAX_HAVE_UPDATE_INDEXES) {
      this.conn.sendControl(MsgType.HAVE_UPDATE, { fileId, indexes: indexes.slice(k, k + MAX_HAVE_UPDATE_INDEXES) });
    }
  }

  closed(err: PeerClosedError): void {
    for (const list of this.waiters.values()) for (const w of list) w.reject(err);
    this.waiters.clear();
    this.conn.outgoingHaves = 0;
  }

  private serveHave(fileId: string): void {
    const conn = this.conn;
    conn.admit();
    conn.incomingHaves++;
    // Watched before the have-map is read, so no chunk stored in between goes unannounced.
    if (conn.remote?.features.includes(HAVE_UPDATES_FEATURE)) conn.opts.handler?.watchHave?.(fileId, conn);
    void (async () => {
      // HAVE has no id; "nothing here" is an empty bitfield (docs/protocol.md).
      let body = { fileId, chunkCount: 0, bitfield: '' };
      try {
        body = { fileId, ...(await conn.handler().have(fileId)) };
      } catch {
        /* unknown file or store down: we have nothing to serve */
      }
      conn.incomingHaves--;
      conn.sendControl(MsgType.HAVE, body);
    })();
  }

  private onHave(h: { fileId: string; chunkCount: number; bitfield: string }): void {
    let bits: Bitfield;
    try {
      bits = Bitfield.fromBase64(h.chunkCount, h.bitfield);
    } catch (e) {
      throw new ProtocolError(`malformed HAVE bitfield: ${(e as Error).message}`);
    }
    const list = this.waiters.get(h.fileId);
    const w = list?.shift();
    if (list && list.length === 0) this.waiters.delete(h.fileId);
    if (!w) return; // unsolicited HAVE: ignored (new chunks come as HAVE_UPDATE)
    if (h.chunkCount > 0) setNewest(this.haveCounts, h.fileId, h.chunkCount, MAX_HAVE_COUNTS);
    this.conn.outgoingHaves--;
    w.resolve({ chunkCount: h.chunkCount, bitfield: bits });
  }

  /** A file we never got a HAVE for is ignored; an index past the file's chunks breaks the protocol. */
  private onUpdate(u: { fileId: string; indexes: number[] }): void {
    const count = this.haveCounts.get(u.fileId);
    if (count === undefined) return;
    const bad = u.indexes.find((i) => i >= count);
    if (bad !== undefined) throw new ProtocolError(`malformed HAVE_UPDATE: chunk index ${bad} is past the ${count} chunks of file ${u.fileId.slice(0, 12)}`);
    for (const l of this.updateListeners) l(u.fileId, u.indexes);
  }
}
