import { MsgType, TRY_PEERS_FEATURE } from '../../messages';
import { manifestPage } from '../../../manifest-pages';
import { MANIFEST_PAGE_HASHES, MAX_WHOLE_MANIFEST_HASHES } from '../../../schemas';
import { encodeDataPrefix } from '../../codec';
import type { ConnectionCore, ConnectionFeature } from '../connection-core';
import { PeerRequestError } from '../peer-errors';
import type { ReadRegion } from '../peer-handler';
import { setNewest } from '../../../recency';

interface ServeItem {
  id: number;
  fileId: string;
  index: number;
  open?: Promise<{ region?: ReadRegion; error?: unknown }>;
}

/** Files whose served bytes a connection remembers for RECEIPT checks (the oldest is forgotten first). */
const MAX_SERVED_FILES = 256;

/** Read leases taken ahead of the chunk being written (bounded: each is a mapping and a lease). */
const SERVE_PREFETCH = 4;

/**
 * Serving the peer from the request handler: MANIFEST_REQUEST, and REQUEST / CANCEL through the
 * serve loop, which answers REQUESTs in order, one PIECE at a time, straight from the read region.
 */
export class ChunkServing implements ConnectionFeature {
  private readonly serveQueue: ServeItem[] = [];
  private serving = false;
  /** PIECE bytes this side wrote to the peer per file, not yet acked by a RECEIPT. */
  private readonly served = new Map<string, number>();
  readonly controls: ConnectionFeature['controls'] = {
    [MsgType.REQUEST]: (b) => this.enqueueServe(b),
    [MsgType.CANCEL]: (b) => this.onCancel(b.id),
    [MsgType.MANIFEST_REQUEST]: (b) => (b.from === undefined ? this.serveManifest(b.id, b.fileId) : this.serveManifestPage(b.id, b.fileId, b.from, b.count ?? MANIFEST_PAGE_HASHES)),
  };

  constructor(private readonly conn: ConnectionCore) {}

  /**
   * A RECEIPT of `bytes` of `fileId`: true (and those bytes are used up) only if this connection
   * served the peer at least that much of the file, so a peer cannot ack more than it got.
   */
  takeServed(fileId: string, bytes: number): boolean {
    const have = this.served.get(fileId) ?? 0;
    if (bytes > have) return false;
    if (have === bytes) this.served.delete(fileId);
    else this.served.set(fileId, have - bytes);
    return true;
  }

  servedBytes(fileId: string): number {
    return this.served.get(fileId) ?? 0;
  }

  /** Leases held for the peer's requests go back to the store. */
  closed(): void {
    for (const item of this.serveQueue.splice(0)) {
      void item.open?.then(({ region }) => region && this.release(region));
    }
  }

  private serveManifest(id: number, fileId: string): void {
    this.conn.admit(id);
    void (async () => {
      try {
        const manifest = await this.conn.handler().manifest(fileId);
        if (manifest.hashes.length > MAX_WHOLE_MANIFEST_HASHES) {
          throw new PeerRequestError('TOO_LARGE', `file ${fileId.slice(0, 16)} has ${manifest.hashes.length} chunks; a whole MANIFEST holds at most ${MAX_WHOLE_MANIFEST_HASHES}: ask for it in pages (feature manifest-pages)`);
        }
        this.conn.reply(id, MsgType.MANIFEST, { id, manifest });
      } catch (e) {
        this.conn.settleIncoming(id, e);
      }
    })();
  }

  /** One page (feature manifest-pages): from the handler's pages when it has them, else cut from its whole manifest. */
  private serveManifestPage(id: number, fileId: string, from: number, count: number): void {
    this.conn.admit(id);
    void (async () => {
      try {
        const h = this.conn.handler();
        const page = h.manifestPage ? await h.manifestPage(fileId, from, count) : manifestPage(await h.manifest(fileId), from, count);
        this.conn.reply(id, MsgType.MANIFEST_PAGE, { id, ...page });
      } catch (e) {
        this.conn.settleIncoming(id, e);
      }
    })();
  }

  private enqueueServe(r: { id: number; fileId: string; index: number }): void {
    this.conn.admit(r.id);
    const item: ServeItem = { ...r };
    this.serveQueue.push(item);
    // A request that arrives while a chunk is being served is opened at once if it is within the
    // prefetch distance (the serve loop only prefetches when it takes the next chunk).
    if (this.serving && this.serveQueue.length <= SERVE_PREFETCH + 1) void this.openRead(item);
    void this.pumpServe();
  }

  private onCancel(id: number): void {
    const i = this.serveQueue.findIndex((s) => s.id === id);
    if (i < 0) return; // already answered, or being written: nothing to do
    const item = this.serveQueue[i];
    this.serveQueue.splice(i, 1);
    // A lease already being taken goes back once it is there; the serve loop skips the item.
    void item.open?.then(({ region }) => region && this.release(region));
    this.conn.settleIncoming(id, new PeerRequestError('CANCELLED', `request ${id} was cancelled`));
  }

  private openRead(item: ServeItem): Promise<{ region?: ReadRegion; error?: unknown }> {
    // Only a peer that takes TRY_PEERS refusals is named: the handler may refuse it, never the others.
    const remote = this.conn.remote;
    const from = remote?.features.includes(TRY_PEERS_FEATURE) ? remote.nodeId : undefined;
    item.open ??= (async () => {
      try {
        return { region: await this.conn.handler().openRead(item.fileId, item.index, from) };
      } catch (error) {
        this.answerRefusalEarly(item, error);
        return { error };
      }
    })();
    return item.open;
  }

  /**
   * A TRY_PEERS refusal of a request queued behind others is sent at once, not in order: the peer
   * (which announced try-peers) fetches the chunk elsewhere instead of waiting for our queue.
   */
  private answerRefusalEarly(item: ServeItem, error: unknown): void {
    if ((error as { code?: unknown })?.code !== 'TRY_PEERS') return;
    const i = this.serveQueue.indexOf(item);
    if (i < 0) return; // already answered (cancelled)
    this.serveQueue.splice(i, 1); // the serve loop skips it, even if it is waiting for it
    this.conn.settleIncoming(item.id, error);
  }

  /**
   * REQUESTs are answered in order, one PIECE at a time: the next lease is taken while the current
   * chunk is written, and the loop waits until the socket has taken each chunk before the next, so
   * a slow reader holds at most one chunk in user space.
   */
  private async pumpServe(): Promise<void> {
    if (this.serving) return;
    this.serving = true;
    try {
      while (this.serveQueue.length > 0 && !this.conn.isClosed()) {
        const item = this.serveQueue[0];
        const pending = this.openRead(item);
        // Leases for the next few are taken while this one is written: a lease costs a round trip
        // to the chunk-store, and one ahead left the socket idle between chunks (docs/performance.md).
        for (let k = 1; k <= SERVE_PREFETCH && k < this.serveQueue.length; k++) void this.openRead(this.serveQueue[k]);
        const { region, error } = await pending;
        if (this.conn.isClosed()) return; // terminate() released what was queued
        const at = this.serveQueue.indexOf(item);
        if (at < 0) continue; // answered meanwhile (cancelled, or refused early), its lease handled there
        this.serveQueue.splice(at, 1);
        if (!region) {
          this.conn.settleIncoming(item.id, error);
          continue;
        }
        // The answer is committed to the socket in this tick, so the id is free for the peer again.
        const written = this.writePiece(item.id, item.fileId, region.data);
        this.conn.answered(item.id);
        try {
          await written;
        } catch {
          /* the socket died; its close handler cleans up */
        } finally {
          void this.release(region);
        }
      }
    } finally {
      this.serving = false;
    }
  }

  /** Prefix, then the mapped region itself: the chunk is never copied into JS memory. */
  private writePiece(id: number, fileId: string, data: Buffer): Promise<void> {
    const conn = this.conn;
    return new Promise((resolve, reject) => {
      conn.socket.write(encodeDataPrefix(MsgType.PIECE, { id }, data.length));
      conn.socket.write(data, (err) => {
        if (err) return reject(err);
        setNewest(this.served, fileId, (this.served.get(fileId) ?? 0) + data.length, MAX_SERVED_FILES);
        conn.opts.onChunkBytes?.('sent', conn.remote?.nodeId ?? conn.label, data.length);
        resolve();
      });
    });
  }

  private async release(region: ReadRegion): Promise<void> {
    try {
      await region.release();
    } catch (e) {
      this.conn.opts.logger?.warn({ peer: this.conn.label, err: (e as Error).message }, 'could not close a read lease');
    }
  }
}
