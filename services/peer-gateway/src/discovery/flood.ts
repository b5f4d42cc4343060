import { randomBytes } from 'node:crypto';
import {
  Bitfield,
  type Logger,
  MAX_QUERY_HOPS,
  type PeerConnection,
  PeerRequestError,
  type QueryBody,
  type QueryHitBody,
} from '@swarmshare/common';
import { DedupeCache } from './dedupe-cache';
import { RateLimiter } from './rate-limiter';

/** A neighbour may pass on this many times the per-origin rate (it relays many origins). */
export const SENDER_RATE_FACTOR = 10;

export interface FloodOptions {
  nodeId: string;
  selfAddress(): string;
  /** Our overlay neighbours' connections (the query goes to those that speak discovery). */
  neighbours(): PeerConnection[];
  /** True for a neighbour's connection: QUERY is taken on those only. */
  isOverlayLink(conn: PeerConnection): boolean;
  /** What this node holds of a file (empty bitfield: nothing). */
  localHave(fileId: string): Promise<{ chunkCount: number; bitfield: string }>;
  /** Connect back to a query's origin (expecting its node id), with a short timeout. */
  connectBack(address: string, nodeId: string): Promise<PeerConnection>;
  /** Hand a holder's connect-back link over to the download (it is used, not dialled again). */
  offerLink(nodeId: string, conn: PeerConnection): void;
  dedupeSize: number;
  ratePerOrigin: number;
  logger?: Logger;
}

export interface FloodStats {
  queriesStarted: number;
  received: number;
  forwarded: number;
  /** QUERY frames sent (started + forwarded, one per neighbour). */
  sent: number;
  droppedDuplicate: number;
  droppedHops: number;
  droppedRate: number;
  connectBacks: number;
  connectBackFailures: number;
  /** QUERYs that came on a connection that is no overlay link: refused, the connection closed. */
  refusedOffOverlay: number;
  hitsAccepted: number;
  hitsRefused: number;
}

interface ActiveQuery {
  fileId: string;
  offered: Set<string>;
  onHolder(h: { nodeId: string; address: string; bitfield: Bitfield }): void;
}

/**
 * The seed's "halfway" scheme. The requester sends QUERY{queryId, fileId, origin, hops} to its
 * neighbours and listens. A peer that holds any chunk connects back to the origin (only that
 * address, once per query, since each query id is handled once) and says QUERY_HIT with its
 * have-map; it forwards the query only if the origin still wants chunks (OK). A peer holding
 * nothing forwards with hops - 1. Duplicates, budgets over MAX_QUERY_HOPS and origins over their
 * rate are dropped. Once the download is complete the origin refuses further hits.
 */
export class FloodQueries {
  readonly stats: FloodStats = {
    queriesStarted: 0,
    received: 0,
    forwarded: 0,
    sent: 0,
    droppedDuplicate: 0,
    droppedHops: 0,
    droppedRate: 0,
    connectBacks: 0,
    connectBackFailures: 0,
    refusedOffOverlay: 0,
    hitsAccepted: 0,
    hitsRefused: 0,
  };
  private readonly dedupe: DedupeCache;
  private readonly limiter: RateLimiter;
  /** Per sending neighbour: forged origins are each new to `limiter`, so the sender is capped too. */
  private readonly senderLimiter: RateLimiter;
  private readonly active = new Map<string, ActiveQuery>();

  constructor(private readonly opts: FloodOptions) {
    this.dedupe = new DedupeCache(opts.dedupeSize);
    this.limiter = new RateLimiter(opts.ratePerOrigin, opts.ratePerOrigin);
    this.senderLimiter = new RateLimiter(opts.ratePerOrigin * SENDER_RATE_FACTOR, opts.ratePerOrigin * SENDER_RATE_FACTOR, 1000);
  }

  /** Start a query; holders are reported through onHolder until stop() is called. */
  start(fileId: string, hops: number, onHolder: ActiveQuery['onHolder']): { queryId: string; stop(): void } {
    if (!Number.isInteger(hops) || hops < 1 || hops > MAX_QUERY_HOPS) throw new RangeError(`hop budget must be 1-${MAX_QUERY_HOPS}, got ${hops}`);
    const queryId = randomBytes(16).toString('hex');
    this.dedupe.seen(queryId); // our own query coming back round a cycle is a duplicate
    this.active.set(queryId, { fileId, offered: new Set(), onHolder });
    this.stats.queriesStarted++;
    this.send({ queryId, fileId, origin: { nodeId: this.opts.nodeId, address: this.opts.selfAddress() }, hops }, undefined);
    return { queryId, stop: () => this.active.delete(queryId) };
  }

  get dedupeSize(): number {
    return this.dedupe.size;
  }

  /**
   * A QUERY from a neighbour. On any other connection (a download, a probe, a connect-back, or
   * anyone who just connected) it is a protocol error: it would make this node dial whatever origin
   * the sender names, so it is refused with a fatal ERROR, and nothing is dialled.
   */
  onQuery(q: QueryBody, from: PeerConnection): void {
    this.stats.received++;
    if (!this.opts.isOverlayLink(from)) {
      this.stats.refusedOffOverlay++;
      from.fail('PROTOCOL', 'QUERY is accepted only on overlay links (a connection whose HELLO lists the "overlay" feature and that was adopted as a neighbour); this connection is not one');
      return;
    }
    if (q.hops > MAX_QUERY_HOPS) {
      this.stats.droppedHops++;
      this.opts.logger?.warn({ queryId: q.queryId, hops: q.hops, from: from.remote?.nodeId }, `dropped a query with a hop budget over ${MAX_QUERY_HOPS}`);
      return;
    }
    if (this.dedupe.seen(q.queryId)) {
      this.stats.droppedDuplicate++;
      return;
    }
    if (q.origin.nodeId === this.opts.nodeId) return;
    if (!this.limiter.allow(q.origin.address)) {
      this.stats.droppedRate++;
      this.opts.logger?.debug({ queryId: q.queryId, origin: q.origin.address }, 'dropped a query: origin over its rate');
      return;
    }
    if (!this.senderLimiter.allow(from.remote?.nodeId ?? from.label)) {
      this.stats.droppedRate++;
      this.opts.logger?.debug({ queryId: q.queryId, from: from.remote?.nodeId }, 'dropped a query: sending peer over its rate');
      return;
    }
    void this.handle(q, from).catch((e) => this.opts.logger?.warn({ queryId: q.queryId, err: (e as Error).message }, 'query handling failed'));
  }

  private async handle(q: QueryBody, from: PeerConnection): Promise<void> {
    const have = await this.opts.localHave(q.fileId).catch(() => ({ chunkCount: 0, bitfield: '' }));
    const holds = have.chunkCount > 0 && Bitfield.fromBase64(have.chunkCount, have.bitfield).count() > 0;
    if (!holds) return this.forward(q, from);
    // A holder connects back, once, and forwards only if the origin still needs chunks.
    this.stats.connectBacks++;
    let conn: PeerConnection;
    try {
      conn = await this.opts.connectBack(q.origin.address, q.origin.nodeId);
    } catch (e) {
      this.stats.connectBackFailures++;
      this.opts.logger?.info({ queryId: q.queryId, origin: q.origin.address, err: (e as Error).message }, 'cannot connect back to a query origin; not forwarding');
      return;
    }
    try {
      await conn.queryHit({ queryId: q.queryId, fileId: q.fileId, chunkCount: have.chunkCount, bitfield: have.bitfield });
    } catch (e) {
      conn.close('query answered');
      this.opts.logger?.debug({ queryId: q.queryId, err: (e as Error).message }, 'origin does not need our chunks; not forwarding');
      return;
    }
    // The origin downloads over this connection; it closes it when done.
    this.forward(q, from);
  }

  private forward(q: QueryBody, from: PeerConnection): void {
    if (q.hops <= 0) return;
    this.stats.forwarded++;
    this.send({ ...q, hops: q.hops - 1 }, from.remote?.nodeId, q.origin.nodeId);
  }

  private send(q: QueryBody, ...skip: Array<string | undefined>): void {
    for (const c of this.opts.neighbours()) {
      if (c.state !== 'open' || !c.speaksDiscovery || skip.includes(c.remote?.nodeId)) continue;
      c.query(q);
      this.stats.sent++;
    }
  }

  /** A holder connected back with QUERY_HIT. Resolves = OK (we want chunks from it). */
  async onQueryHit(hit: QueryHitBody, conn: PeerConnection): Promise<void> {
    const q = this.active.get(hit.queryId);
    const holder = conn.remote?.nodeId ?? '';
    const refuse = (why: string): never => {
      this.stats.hitsRefused++;
      throw new PeerRequestError('NOT_NEEDED', why);
    };
    if (!q || q.fileId !== hit.fileId) refuse(`query ${hit.queryId.slice(0, 8)} is over: no chunks needed`);
    if (q!.offered.has(holder)) refuse(`${holder} already answered query ${hit.queryId.slice(0, 8)}`);
    q!.offered.add(holder);
    if (!conn.remote?.listen) refuse('a holder must have a listen address');
    let bits: Bitfield;
    try {
      bits = Bitfield.fromBase64(hit.chunkCount, hit.bitfield);
    } catch (e) {
      throw new PeerRequestError('BAD_REQUEST', `malformed have-map: ${(e as Error).message}`);
    }
    if (bits.count() === 0) refuse('no chunks offered');
    this.stats.hitsAccepted++;
    this.opts.offerLink(holder, conn);
    q!.onHolder({ nodeId: holder, address: conn.remote!.listen!, bitfield: bits });
  }
}
