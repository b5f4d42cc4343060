import { connect as netConnect, type Socket } from 'node:net';
import type { z } from 'zod';
import { Bitfield } from '../../bitfield';
import { SwarmError, toErrorBody } from '../../errors';
import { chunkLength, manifestIsConsistent } from '../../file-id';
import { setNewest } from '../../recency';
import type { Logger } from '../../logging';
import type { Manifest } from '../../schemas';
import { type DataSink, FrameDecoder, ProtocolError, encodeControl, encodeDataPrefix } from '../codec';
import {
  type ControlBody,
  type ControlMessage,
  type ControlSchemas,
  type ControlType,
  HANDSHAKE_TIMEOUT_MS,
  HAVE_UPDATES_FEATURE,
  DISCOVERY_FEATURE,
  MAX_HAVE_UPDATE_INDEXES,
  MAX_DATA_PAYLOAD,
  MAX_NEIGHBOURS_LISTED,
  MAX_REQUESTS_IN_FLIGHT,
  MsgType,
  PROTOCOL_VERSION,
  RECEIPT_FEATURE,
  TRY_PEERS_FEATURE,
  decodeDataHeader,
} from '../messages';
import { PeerClosedError, PeerRequestError } from './peer-errors';
import type { ChunkSink, HaveUpdateTarget, OfferReservation, PeerRequestHandler, ReadRegion } from './peer-handler';
import { StoreSink } from './store-sink';

export type Hello = z.output<(typeof ControlSchemas)[MsgType.HELLO]>;
export type QueryBody = z.output<(typeof ControlSchemas)[MsgType.QUERY]>;
export type QueryHitBody = z.output<(typeof ControlSchemas)[MsgType.QUERY_HIT]>;
export interface NeighbourRef {
  nodeId: string;
  address: string;
}

/**
 * Serves the discovery messages (0x20-0x23, feature "discovery"). A connection without one answers
 * NEIGHBOURS_REQUEST with an empty list, QUERY_HIT with ERROR{id, NOT_NEEDED}, and ignores QUERY.
 */
export interface DiscoveryHooks {
  neighbours(conn: PeerConnection): NeighbourRef[];
  onQuery(q: QueryBody, conn: PeerConnection): void;
  /** Resolve = "I want chunks from you" (OK); throw = refused (ERROR{id} with the error's code). */
  onQueryHit(hit: QueryHitBody, conn: PeerConnection): Promise<void>;
}
type ErrorBody = z.output<(typeof ControlSchemas)[MsgType.ERROR]>;

export interface PeerConnectionOptions {
  /** Our id in HELLO: a node id, or `cli-…` for a client that serves nothing. */
  nodeId: string;
  /** Where we accept connections (null for a client). */
  listen: string | null;
  features?: string[];
  /** Serves the peer's requests; without one every request is refused with ERROR{id}. */
  handler?: PeerRequestHandler;
  /** Discovery messages; see DiscoveryHooks. */
  discovery?: DiscoveryHooks;
  /** Close the connection if the peer's HELLO names another node (stale tracker data). */
  expectNodeId?: string;
  handshakeTimeoutMs?: number;
  maxRequestsInFlight?: number;
  /** For logs and error messages, e.g. the remote address. */
  label?: string;
  logger?: Logger;
  /** Chunk bytes that crossed this connection (PIECE and STORE payloads), for per-peer metrics. */
  onChunkBytes?(direction: 'sent' | 'received', peerNodeId: string, bytes: number): void;
  /**
   * Set when the socket was made with a reused read buffer (`onread`, see connectPeer): it emits no
   * 'data' events, so the connection hands its input function to this instead.
   */
  attachReader?(onData: (d: Buffer) => void): void;
}

/** Bytes per socket read on outgoing connections: one reused buffer each, so downloads make no garbage. */
export const READ_BUFFER_BYTES = 256 * 1024;

export type ConnectionState = 'handshake' | 'open' | 'closed';

type Outgoing =
  | { kind: 'piece'; target: Buffer | ChunkSink; received: number; abandoned?: boolean; resolve(n: number): void; reject(e: Error): void }
  | { kind: 'manifest'; resolve(m: Manifest): void; reject(e: Error): void }
  | { kind: 'ok'; resolve(): void; reject(e: Error): void }
  | { kind: 'neighbours'; resolve(p: NeighbourRef[]): void; reject(e: Error): void };

interface HaveWaiter {
  resolve(h: { chunkCount: number; bitfield: Bitfield }): void;
  reject(e: Error): void;
}

interface ServeItem {
  id: number;
  fileId: string;
  index: number;
  open?: Promise<{ region?: ReadRegion; error?: unknown }>;
}

/** Manifests offered on one connection, remembered to check STORE lengths early; a few suffice. */
const MAX_OFFERED = 8;
/** Chunk counts learnt from HAVEs on one connection, to check HAVE_UPDATEs (the oldest is forgotten first). */
const MAX_HAVE_COUNTS = 64;
/** Read leases taken ahead of the chunk being written (bounded: each is a mapping and a lease). */
const SERVE_PREFETCH = 4;
/** After our last frame, how long the peer gets to read it before the socket is destroyed. */
const LINGER_MS = 2000;

const DISCARD: DataSink = { write() {}, end() {} };

/**
 * One peer protocol v1 connection, either side (docs/protocol.md). Both sides say HELLO first;
 * after that either may send requests and must answer the other's. Requests are matched by id
 * (HAVE by file id); data frames stream between the socket and mapped regions without buffering.
 * Any protocol violation sends a fatal ERROR with the reason and closes only this connection.
 */
export class PeerConnection implements HaveUpdateTarget {
  state: ConnectionState = 'handshake';
  remote?: Hello;
  closeReason?: string;
  /** Resolves with the peer's HELLO; rejects if the connection closes first. */
  readonly ready: Promise<Hello>;
  /** Resolves with the reason once the connection is closed. */
  readonly closed: Promise<string>;

  private resolveReady!: (h: Hello) => void;
  private rejectReady!: (e: Error) => void;
  private resolveClosed!: (reason: string) => void;
  private readonly decoder: FrameDecoder;
  private readonly maxInFlight: number;
  private readonly handshakeTimer: NodeJS.Timeout;
  private nextId = 1;
  // Requests we made, awaiting an answer.
  private readonly outgoing = new Map<number, Outgoing>();
  private readonly haveWaiters = new Map<string, HaveWaiter[]>();
  private haveWaiting = 0;
  // Requests the peer made, not answered yet.
  private readonly incomingIds = new Set<number>();
  private incomingHaves = 0;
  private readonly serveQueue: ServeItem[] = [];
  private serving = false;
  private readonly storeSinks = new Set<StoreSink>();
  private readonly offered = new Map<string, Manifest>();
  private pauses = 0;
  /** Chunk count per file, from the HAVEs the peer sent us: a HAVE_UPDATE is checked against it. */
  private readonly haveCounts = new Map<string, number>();
  private readonly haveUpdateListeners = new Set<(fileId: string, indexes: number[]) => void>();

  constructor(
    readonly socket: Socket,
    private readonly opts: PeerConnectionOptions,
  ) {
    this.maxInFlight = opts.maxRequestsInFlight ?? MAX_REQUESTS_IN_FLIGHT;
    this.ready = new Promise<Hello>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => undefined); // callers that never await it must not see an unhandled rejection
    this.closed = new Promise<string>((resolve) => (this.resolveClosed = resolve));
    this.decoder = new FrameDecoder({
      control: (m) => this.onControl(m),
      dataStart: (type, header, length) => this.onDataStart(type, header, length),
    });
    socket.setNoDelay(true);
    if (opts.attachReader) opts.attachReader((d) => this.onData(d));
    else socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', (e) => this.terminate(`socket error: ${e.message}`));
    socket.on('close', () => this.terminate(this.state === 'handshake' ? 'connection closed before HELLO' : 'connection closed by peer'));
    const ms = opts.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS;
    this.handshakeTimer = setTimeout(() => this.fail('TIMEOUT', `no HELLO within ${ms} ms`), ms);
    this.handshakeTimer.unref();
    // A handler that takes download acks announces the RECEIPT feature (issue 3).
    const features = [...(opts.features ?? []), ...(opts.handler?.receipt && !opts.features?.includes(RECEIPT_FEATURE) ? [RECEIPT_FEATURE] : [])];
    this.sendControl(MsgType.HELLO, { version: PROTOCOL_VERSION, nodeId: opts.nodeId, listen: opts.listen, features });
  }

  get label(): string {
    return this.opts.label ?? `${this.socket.remoteAddress}:${this.socket.remotePort}`;
  }

  /** Requests we have outstanding (what the peer would count against the limit). */
  get requestsInFlight(): number {
    return this.outgoing.size + this.haveWaiting;
  }

  // ---------------------------------------------------------------- requests we make

  have(fileId: string): Promise<{ chunkCount: number; bitfield: Bitfield }> {
    this.assertCanRequest();
    return new Promise((resolve, reject) => {
      const list = this.haveWaiters.get(fileId) ?? [];
      list.push({ resolve, reject });
      this.haveWaiters.set(fileId, list);
      this.haveWaiting++;
      this.sendControl(MsgType.HAVE_REQUEST, { fileId });
    });
  }

  manifest(fileId: string): Promise<Manifest> {
    const id = this.allocId();
    return new Promise((resolve, reject) => {
      this.outgoing.set(id, { kind: 'manifest', resolve, reject });
      this.sendControl(MsgType.MANIFEST_REQUEST, { id, fileId });
    });
  }

  /**
   * REQUEST one chunk; the PIECE payload is copied straight into `target`, whose length must be
   * the chunk's length (a PIECE of any other length is a protocol error), or handed to a sink
   * (e.g. pwrite into the chunk's file). Resolves with the bytes.
   */
  sendRequest(fileId: string, index: number, target: Buffer | ChunkSink): { id: number; done: Promise<number> } {
    const id = this.allocId();
    const done = new Promise<number>((resolve, reject) => {
      this.outgoing.set(id, { kind: 'piece', target, received: 0, resolve, reject });
      this.sendControl(MsgType.REQUEST, { id, fileId, index });
    });
    return { id, done };
  }

  requestChunk(fileId: string, index: number, target: Buffer): Promise<number> {
    return this.sendRequest(fileId, index, target).done;
  }

  /** Ask the peer to drop a queued REQUEST; it still answers it (PIECE, or ERROR code CANCELLED). */
  /**
   * Give up on a REQUEST now (endgame loser, or its bytes arrived from another holder): the promise
   * rejects with PeerRequestError CANCELLED at once, CANCEL goes to the peer, and PIECE bytes still
   * to come for it are read and dropped, never written into its target (which the caller may reuse).
   */
  abandonRequest(id: number): void {
    const p = this.outgoing.get(id);
    if (!p || p.kind !== 'piece' || p.abandoned) return;
    p.abandoned = true;
    this.sendControl(MsgType.CANCEL, { id });
    p.reject(new PeerRequestError('CANCELLED', `request ${id} was abandoned by this side`));
  }

  cancel(id: number): void {
    if (this.outgoing.get(id)?.kind === 'piece') this.sendControl(MsgType.CANCEL, { id });
  }

  /** STORE_OFFER: ask the peer to hold this file. */
  offer(manifest: Manifest, reservation?: OfferReservation): Promise<void> {
    const id = this.allocId();
    return new Promise((resolve, reject) => {
      this.outgoing.set(id, { kind: 'ok', resolve, reject });
      this.sendControl(MsgType.STORE_OFFER, reservation ? { id, manifest, reservation } : { id, manifest });
    });
  }

  /** STORE: push one chunk; resolves once the peer has verified and stored it. */
  store(fileId: string, index: number, data: Buffer): Promise<void> {
    if (data.length > MAX_DATA_PAYLOAD) throw new SwarmError('TOO_LARGE', `a chunk of ${data.length} bytes exceeds the ${MAX_DATA_PAYLOAD}-byte limit`);
    const id = this.allocId();
    return new Promise((resolve, reject) => {
      this.outgoing.set(id, { kind: 'ok', resolve, reject });
      this.socket.write(encodeDataPrefix(MsgType.STORE, { id, index, fileId }, data.length));
      this.socket.write(data);
      this.opts.onChunkBytes?.('sent', this.remote?.nodeId ?? this.label, data.length);
    });
  }

  /** The peer's HELLO listed the discovery feature: only then may 0x20-0x23 be sent to it. */
  get speaksDiscovery(): boolean {
    return this.remote?.features.includes(DISCOVERY_FEATURE) ?? false;
  }

  /** NEIGHBOURS_REQUEST: the peers this peer is connected to (iterative lookup). */
  neighbours(): Promise<NeighbourRef[]> {
    this.assertDiscovery();
    const id = this.allocId();
    return new Promise((resolve, reject) => {
      this.outgoing.set(id, { kind: 'neighbours', resolve, reject });
      this.sendControl(MsgType.NEIGHBOURS_REQUEST, { id });
    });
  }

  /** QUERY: fire and forget; holders connect back to the origin. */
  query(q: QueryBody): void {
    this.assertDiscovery();
    this.sendControl(MsgType.QUERY, q);
  }

  /** QUERY_HIT on a connect-back connection; resolves if the origin wants chunks from us. */
  queryHit(hit: Omit<QueryHitBody, 'id'>): Promise<void> {
    this.assertDiscovery();
    const id = this.allocId();
    return new Promise((resolve, reject) => {
      this.outgoing.set(id, { kind: 'ok', resolve, reject });
      this.sendControl(MsgType.QUERY_HIT, { id, ...hit });
    });
  }

  private assertDiscovery(): void {
    if (this.state === 'open' && !this.speaksDiscovery) {
      throw new SwarmError('UNAVAILABLE', `${this.remote?.nodeId} did not announce the "${DISCOVERY_FEATURE}" feature`);
    }
  }

  /**
   * RECEIPT: ack a holder for what we downloaded from it. Resolves false without sending anything
   * if the peer did not announce the feature, true once it answered OK.
   */
  async receipt(fileId: string, bytes: number, chunks: number): Promise<boolean> {
    if (!this.remote?.features.includes(RECEIPT_FEATURE)) return false;
    const id = this.allocId();
    await new Promise<void>((resolve, reject) => {
      this.outgoing.set(id, { kind: 'ok', resolve, reject });
      this.sendControl(MsgType.RECEIPT, { id, fileId, bytes, chunks });
    });
    return true;
  }

  /**
   * Have-updates: `listener` hears the chunks the peer stored after it answered our HAVE for that
   * file (only files we asked about, indexes already checked). Returns the unsubscribe function.
   */
  onHaveUpdate(listener: (fileId: string, indexes: number[]) => void): () => void {
    this.haveUpdateListeners.add(listener);
    return () => this.haveUpdateListeners.delete(listener);
  }

  /** HAVE_UPDATE, split into frames of at most MAX_HAVE_UPDATE_INDEXES; only to a peer that announced the feature. */
  sendHaveUpdate(fileId: string, indexes: number[]): void {
    if (this.state !== 'open' || !this.remote?.features.includes(HAVE_UPDATES_FEATURE)) return;
    for (let k = 0; k < indexes.length; k += MAX_HAVE_UPDATE_INDEXES) {
      this.sendControl(MsgType.HAVE_UPDATE, { fileId, indexes: indexes.slice(k, k + MAX_HAVE_UPDATE_INDEXES) });
    }
  }

  /** Close without complaint (FIN); outstanding requests fail with PeerClosedError. */
  close(reason = 'closed by this side'): void {
    this.terminate(reason);
  }

  /** Close with a fatal ERROR frame that tells the peer why. */
  fail(code: string, message: string): void {
    if (this.state === 'closed') return;
    this.opts.logger?.warn({ peer: this.label, remoteNode: this.remote?.nodeId, code, reason: message }, 'closing peer connection');
    this.terminate(`${code}: ${message}`, encodeControl(MsgType.ERROR, { code, message: message.slice(0, 1000), fatal: true }));
  }

  private assertCanRequest(): void {
    if (this.state !== 'open') throw new PeerClosedError(this.state === 'closed' ? (this.closeReason ?? 'connection closed') : 'HELLO not exchanged yet');
    if (this.requestsInFlight >= this.maxInFlight) {
      throw new SwarmError('BAD_REQUEST', `already ${this.requestsInFlight} requests in flight to ${this.label}; the protocol allows ${this.maxInFlight}`);
    }
  }

  private allocId(): number {
    this.assertCanRequest();
    let id = this.nextId;
    while (this.outgoing.has(id)) id = (id + 1) >>> 0;
    this.nextId = (id + 1) >>> 0;
    return id;
  }

  // ---------------------------------------------------------------- input

  private onData(d: Buffer): void {
    // After a close we keep reading (so the kernel does not reset the connection before the peer
    // has read our ERROR) but ignore everything.
    if (this.state === 'closed') return;
    try {
      this.decoder.push(d);
    } catch (e) {
      if (e instanceof ProtocolError) this.fail('PROTOCOL', e.message);
      else {
        this.opts.logger?.error({ peer: this.label, err: (e as Error).stack }, 'bug while handling peer input');
        this.fail('INTERNAL', `internal error: ${(e as Error).message}`);
      }
    }
  }

  private onControl(m: ControlMessage): void {
    if (this.state === 'closed') return;
    // ERROR may come before HELLO: a peer that refuses the connection says why.
    if (m.type === MsgType.ERROR) return this.onError(m.body);
    if (this.state === 'handshake') {
      if (m.type !== MsgType.HELLO) throw new ProtocolError(`expected HELLO first, got ${MsgType[m.type]}`);
      return this.onHello(m.body);
    }
    switch (m.type) {
      case MsgType.HELLO:
        throw new ProtocolError('HELLO sent twice');
      case MsgType.HAVE_REQUEST:
        return this.serveHave(m.body.fileId);
      case MsgType.HAVE:
        return this.onHave(m.body);
      case MsgType.REQUEST:
        return this.enqueueServe(m.body);
      case MsgType.CANCEL:
        return this.onCancel(m.body.id);
      case MsgType.MANIFEST_REQUEST:
        return this.serveManifest(m.body.id, m.body.fileId);
      case MsgType.MANIFEST: {
        const p = this.answer(m.body.id, 'MANIFEST', 'manifest');
        return p.kind === 'manifest' ? p.resolve(m.body.manifest) : undefined;
      }
      case MsgType.OK: {
        const p = this.answer(m.body.id, 'OK', 'ok');
        return p.kind === 'ok' ? p.resolve() : undefined;
      }
      case MsgType.RECEIPT:
        return this.serveReceipt(m.body);
      case MsgType.STORE_OFFER:
        return this.serveOffer(m.body.id, m.body.manifest, m.body.reservation);
      case MsgType.NEIGHBOURS_REQUEST:
        this.admit(m.body.id);
        this.incomingIds.delete(m.body.id);
        return this.sendControl(MsgType.NEIGHBOURS, { id: m.body.id, peers: (this.opts.discovery?.neighbours(this) ?? []).slice(0, MAX_NEIGHBOURS_LISTED) });
      case MsgType.NEIGHBOURS: {
        const p = this.answer(m.body.id, 'NEIGHBOURS', 'neighbours');
        return p.kind === 'neighbours' ? p.resolve(m.body.peers) : undefined;
      }
      case MsgType.QUERY:
        return this.opts.discovery?.onQuery(m.body, this);
      case MsgType.QUERY_HIT:
        return this.serveQueryHit(m.body);
      case MsgType.HAVE_UPDATE:
        return this.onHaveUpdateFrame(m.body);
    }
  }

  private onDataStart(type: MsgType.PIECE | MsgType.STORE, header: Buffer, length: number): DataSink {
    if (this.state === 'closed') return DISCARD;
    if (this.state === 'handshake') throw new ProtocolError(`${MsgType[type]} data frame before HELLO`);
    this.opts.onChunkBytes?.('received', this.remote?.nodeId ?? this.label, length);
    if (type === MsgType.PIECE) return this.pieceSink(decodeDataHeader(MsgType.PIECE, header).id, length);
    return this.storeSink(decodeDataHeader(MsgType.STORE, header), length);
  }

  private onHello(h: Hello): void {
    if (h.version !== PROTOCOL_VERSION) {
      return this.fail('PROTOCOL', `unsupported protocol version ${h.version}; this peer speaks version ${PROTOCOL_VERSION}`);
    }
    if (this.opts.expectNodeId && h.nodeId !== this.opts.expectNodeId) {
      return this.fail('PROTOCOL', `expected node ${this.opts.expectNodeId} at ${this.label}, but this is ${h.nodeId}`);
    }
    clearTimeout(this.handshakeTimer);
    this.remote = h;
    this.state = 'open';
    this.resolveReady(h);
  }

  private onError(e: ErrorBody): void {
    if (e.id !== undefined) {
      const p = this.outgoing.get(e.id);
      if (!p) throw new ProtocolError(`ERROR for request id ${e.id}, which was never made`);
      this.outgoing.delete(e.id);
      p.reject(new PeerRequestError(e.code, e.message));
    }
    if (e.fatal) return this.terminate(`peer closed the connection: ${e.code}: ${e.message}`);
    if (e.id === undefined) this.opts.logger?.warn({ peer: this.label, code: e.code, reason: e.message }, 'peer reported an error');
  }

  private onHave(h: { fileId: string; chunkCount: number; bitfield: string }): void {
    let bits: Bitfield;
    try {
      bits = Bitfield.fromBase64(h.chunkCount, h.bitfield);
    } catch (e) {
      throw new ProtocolError(`malformed HAVE bitfield: ${(e as Error).message}`);
    }
    const list = this.haveWaiters.get(h.fileId);
    const w = list?.shift();
    if (list && list.length === 0) this.haveWaiters.delete(h.fileId);
    if (!w) return; // unsolicited HAVE: ignored (new chunks come as HAVE_UPDATE)
    if (h.chunkCount > 0) setNewest(this.haveCounts, h.fileId, h.chunkCount, MAX_HAVE_COUNTS);
    this.haveWaiting--;
    w.resolve({ chunkCount: h.chunkCount, bitfield: bits });
  }

  /** A file we never got a HAVE for is ignored; an index past the file's chunks breaks the protocol. */
  private onHaveUpdateFrame(u: { fileId: string; indexes: number[] }): void {
    const count = this.haveCounts.get(u.fileId);
    if (count === undefined) return;
    const bad = u.indexes.find((i) => i >= count);
    if (bad !== undefined) throw new ProtocolError(`malformed HAVE_UPDATE: chunk index ${bad} is past the ${count} chunks of file ${u.fileId.slice(0, 12)}`);
    for (const l of this.haveUpdateListeners) l(u.fileId, u.indexes);
  }

  /** Match an answer to our request; an answer to nothing, or of the wrong kind, breaks the protocol. */
  private answer(id: number, what: string, kind: Outgoing['kind']): Outgoing {
    const p = this.outgoing.get(id);
    if (!p) throw new ProtocolError(`${what} for request id ${id}, which was never made`);
    if (p.kind !== kind) throw new ProtocolError(`${what} is not an answer to request ${id}`);
    this.outgoing.delete(id);
    return p;
  }

  private pieceSink(id: number, length: number): DataSink {
    const p = this.outgoing.get(id);
    if (!p || p.kind !== 'piece') throw new ProtocolError(`PIECE for request id ${id}, which was never made`);
    if (length !== p.target.length) throw new ProtocolError(`PIECE for request ${id} carries ${length} bytes; the chunk is ${p.target.length} bytes`);
    return {
      write: (slice) => {
        if (p.abandoned) {
          /* given up: the bytes are read and dropped */
        } else if (Buffer.isBuffer(p.target)) slice.copy(p.target, p.received);
        else p.target.write(slice, p.received);
        p.received += slice.length;
      },
      end: () => {
        this.outgoing.delete(id);
        p.resolve(p.received);
      },
    };
  }

  // ---------------------------------------------------------------- serving the peer's requests

  /** Count a request the peer made; past the limit, or reusing a live id, is a protocol error. */
  private admit(id?: number): void {
    if (this.incomingIds.size + this.incomingHaves >= this.maxInFlight) {
      throw new ProtocolError(`more than ${this.maxInFlight} requests in flight`);
    }
    if (id === undefined) return;
    if (this.incomingIds.has(id)) throw new ProtocolError(`request id ${id} is already in flight`);
    this.incomingIds.add(id);
  }

  /** Answer request `id`: with an error body, or by the frame already written. */
  private settleIncoming(id: number, err?: unknown): void {
    if (!this.incomingIds.delete(id)) return;
    if (err === undefined) return;
    const body = err instanceof PeerRequestError ? { code: err.code, message: err.message } : toErrorBody(err);
    this.sendControl(MsgType.ERROR, { id, code: body.code, message: body.message.slice(0, 1000), fatal: false });
  }

  private handler(): PeerRequestHandler {
    if (!this.opts.handler) throw new SwarmError('UNAVAILABLE', `${this.opts.nodeId} serves nothing`);
    return this.opts.handler;
  }

  private serveHave(fileId: string): void {
    this.admit();
    this.incomingHaves++;
    // Watched before the have-map is read, so no chunk stored in between goes unannounced.
    if (this.remote?.features.includes(HAVE_UPDATES_FEATURE)) this.opts.handler?.watchHave?.(fileId, this);
    void (async () => {
      // HAVE has no id; "nothing here" is an empty bitfield (docs/protocol.md).
      let body = { fileId, chunkCount: 0, bitfield: '' };
      try {
        body = { fileId, ...(await this.handler().have(fileId)) };
      } catch {
        /* unknown file or store down: we have nothing to serve */
      }
      this.incomingHaves--;
      this.sendControl(MsgType.HAVE, body);
    })();
  }

  private serveManifest(id: number, fileId: string): void {
    this.admit(id);
    void (async () => {
      try {
        const manifest = await this.handler().manifest(fileId);
        if (this.incomingIds.delete(id)) this.sendControl(MsgType.MANIFEST, { id, manifest });
      } catch (e) {
        this.settleIncoming(id, e);
      }
    })();
  }

  private serveQueryHit(hit: QueryHitBody): void {
    this.admit(hit.id);
    void (async () => {
      try {
        if (!this.opts.discovery) throw new PeerRequestError('NOT_NEEDED', 'this side runs no query');
        await this.opts.discovery.onQueryHit(hit, this);
        if (this.incomingIds.delete(hit.id)) this.sendControl(MsgType.OK, { id: hit.id });
      } catch (e) {
        this.settleIncoming(hit.id, e);
      }
    })();
  }

  private serveReceipt(r: { id: number; fileId: string; bytes: number; chunks: number }): void {
    this.admit(r.id);
    void (async () => {
      try {
        const h = this.handler();
        if (!h.receipt) throw new SwarmError('UNAVAILABLE', `${this.opts.nodeId} takes no receipts`);
        await h.receipt({ fileId: r.fileId, bytes: r.bytes, chunks: r.chunks }, this.remote!.nodeId);
        if (this.incomingIds.delete(r.id)) this.sendControl(MsgType.OK, { id: r.id });
      } catch (e) {
        this.settleIncoming(r.id, e);
      }
    })();
  }

  private serveOffer(id: number, manifest: Manifest, reservation?: OfferReservation): void {
    this.admit(id);
    void (async () => {
      try {
        if (!manifestIsConsistent(manifest)) throw new SwarmError('BAD_REQUEST', 'offered manifest does not match its file id');
        await this.handler().offer(manifest, reservation);
        setNewest(this.offered, manifest.fileId, manifest, MAX_OFFERED);
        if (this.incomingIds.delete(id)) this.sendControl(MsgType.OK, { id });
      } catch (e) {
        this.settleIncoming(id, e);
      }
    })();
  }

  private storeSink(h: { id: number; index: number; fileId: string }, length: number): DataSink {
    this.admit(h.id);
    const refuse = (err: unknown): DataSink => ({ write() {}, end: () => this.settleIncoming(h.id, err) });
    if (!this.opts.handler) return refuse(new SwarmError('UNAVAILABLE', `${this.opts.nodeId} accepts no chunks`));
    // With the manifest offered on this connection, a wrong index or length is refused before taking a lease.
    const m = this.offered.get(h.fileId);
    if (m) {
      if (h.index >= m.hashes.length) return refuse(new SwarmError('OUT_OF_RANGE', `chunk ${h.index} is out of range: the file has ${m.hashes.length} chunks`));
      const expected = chunkLength(m.size, m.chunkSize, h.index);
      if (expected !== length) return refuse(new SwarmError('BAD_LENGTH', `STORE of chunk ${h.index} carries ${length} bytes; the chunk is ${expected} bytes`));
    }
    const sink: StoreSink = new StoreSink(length, this.opts.handler.openWrite(h.fileId, h.index), {
      pause: () => this.pauseInput(),
      resume: () => this.resumeInput(),
      finish: (err) => {
        this.storeSinks.delete(sink);
        if (err !== undefined) return this.settleIncoming(h.id, err);
        if (this.incomingIds.delete(h.id)) this.sendControl(MsgType.OK, { id: h.id });
      },
    });
    this.storeSinks.add(sink);
    return sink;
  }

  private pauseInput(): void {
    if (this.pauses++ === 0) this.socket.pause();
  }

  private resumeInput(): void {
    if (--this.pauses === 0 && this.state !== 'closed') this.socket.resume();
  }

  private enqueueServe(r: { id: number; fileId: string; index: number }): void {
    this.admit(r.id);
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
    this.settleIncoming(id, new PeerRequestError('CANCELLED', `request ${id} was cancelled`));
  }

  private openRead(item: ServeItem): Promise<{ region?: ReadRegion; error?: unknown }> {
    // Only a peer that takes TRY_PEERS refusals is named: the handler may refuse it, never the others.
    const from = this.remote?.features.includes(TRY_PEERS_FEATURE) ? this.remote.nodeId : undefined;
    item.open ??= (async () => {
      try {
        return { region: await this.handler().openRead(item.fileId, item.index, from) };
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
    this.settleIncoming(item.id, error);
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
      while (this.serveQueue.length > 0 && this.state !== 'closed') {
        const item = this.serveQueue[0];
        const pending = this.openRead(item);
        // Leases for the next few are taken while this one is written: a lease costs a round trip
        // to the chunk-store, and one ahead left the socket idle between chunks (docs/performance.md).
        for (let k = 1; k <= SERVE_PREFETCH && k < this.serveQueue.length; k++) void this.openRead(this.serveQueue[k]);
        const { region, error } = await pending;
        if (this.isClosed()) return; // terminate() released what was queued
        const at = this.serveQueue.indexOf(item);
        if (at < 0) continue; // answered meanwhile (cancelled, or refused early), its lease handled there
        this.serveQueue.splice(at, 1);
        if (!region) {
          this.settleIncoming(item.id, error);
          continue;
        }
        // The answer is committed to the socket in this tick, so the id is free for the peer again.
        const written = this.writePiece(item.id, region.data);
        this.incomingIds.delete(item.id);
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
  private writePiece(id: number, data: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.write(encodeDataPrefix(MsgType.PIECE, { id }, data.length));
      this.socket.write(data, (err) => {
        if (err) return reject(err);
        this.opts.onChunkBytes?.('sent', this.remote?.nodeId ?? this.label, data.length);
        resolve();
      });
    });
  }

  private async release(region: ReadRegion): Promise<void> {
    try {
      await region.release();
    } catch (e) {
      this.opts.logger?.warn({ peer: this.label, err: (e as Error).message }, 'could not close a read lease');
    }
  }

  // ---------------------------------------------------------------- output and shutdown

  /** A method, so TypeScript does not narrow the state across awaits. */
  isClosed(): boolean {
    return this.state === 'closed';
  }

  private sendControl<T extends ControlType>(type: T, body: ControlBody<T>): void {
    if (this.state === 'closed' || this.socket.destroyed) return;
    this.socket.write(encodeControl(type, body));
  }

  private terminate(reason: string, lastFrame?: Buffer): void {
    if (this.state === 'closed') return;
    const wasHandshake = this.state === 'handshake';
    this.state = 'closed';
    this.closeReason = reason;
    clearTimeout(this.handshakeTimer);
    const err = new PeerClosedError(`connection to ${this.label} closed: ${reason}`);
    for (const p of this.outgoing.values()) p.reject(err);
    this.outgoing.clear();
    for (const list of this.haveWaiters.values()) for (const w of list) w.reject(err);
    this.haveWaiters.clear();
    this.haveWaiting = 0;
    // Leases held for the peer's requests go back to the store.
    for (const item of this.serveQueue.splice(0)) {
      void item.open?.then(({ region }) => region && this.release(region));
    }
    for (const s of this.storeSinks) s.abort();
    this.storeSinks.clear();
    if (wasHandshake) this.rejectReady(err);
    if (!this.socket.destroyed) {
      if (this.pauses > 0) this.socket.resume();
      if (lastFrame) this.socket.end(lastFrame);
      else this.socket.end();
      setTimeout(() => this.socket.destroy(), LINGER_MS).unref();
    }
    this.resolveClosed(reason);
  }
}

/** Split host:port (or [v6]:port). */
export function parseAddress(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  if (i <= 0) throw new SwarmError('BAD_REQUEST', `peer address "${address}" is not host:port`);
  return { host: address.slice(0, i).replace(/^\[(.*)\]$/, '$1'), port: Number(address.slice(i + 1)) };
}

/** Dial a peer and complete the handshake. */
export async function connectPeer(address: string, opts: PeerConnectionOptions & { connectTimeoutMs?: number }): Promise<PeerConnection> {
  const { host, port } = parseAddress(address);
  const timeoutMs = opts.connectTimeoutMs ?? 5000;
  // A download's PIECE bytes go from this one buffer straight into the chunk file (the decoder and
  // the sinks copy whatever they keep), instead of a fresh Buffer per read for the GC to collect.
  let reader: ((d: Buffer) => void) | undefined;
  const onread = {
    // A Buffer, not a function: Node calls a function for a fresh buffer on every read.
    buffer: Buffer.allocUnsafe(READ_BUFFER_BYTES),
    callback: (n: number, buf: Uint8Array): boolean => {
      reader?.(Buffer.from(buf.buffer, buf.byteOffset, n));
      return true;
    },
  };
  const socket = await new Promise<Socket>((resolve, reject) => {
    const s = netConnect({ host, port, onread });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new PeerClosedError(`cannot connect to ${address}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', (e) => {
      clearTimeout(timer);
      reject(new PeerClosedError(`cannot connect to ${address}: ${e.message}`));
    });
  });
  const conn = new PeerConnection(socket, { label: address, ...opts, attachReader: (fn) => (reader = fn) });
  await conn.ready;
  return conn;
}
