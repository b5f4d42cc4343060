import type { Socket } from 'node:net';
import type { z } from 'zod';
import { SwarmError, toErrorBody } from '../../errors';
import type { Logger } from '../../logging';
import type { Manifest, ManifestPage } from '../../schemas';
import { type DataSink, FrameDecoder, ProtocolError, encodeControl } from '../codec';
import {
  type ControlBody,
  type ControlMessage,
  type ControlSchemas,
  type ControlType,
  HANDSHAKE_TIMEOUT_MS,
  MAX_CONTROL_FRAME,
  MAX_HAVE_REQUESTS_IN_FLIGHT,
  MAX_REQUESTS_IN_FLIGHT,
  MsgType,
  PROTOCOL_VERSION,
  CORRUPT_NOTICE_FEATURE,
  MANIFEST_PAGES_FEATURE,
  RECEIPT_FEATURE,
  decodeDataHeader,
} from '../messages';
import { PeerClosedError, PeerRequestError } from './peer-errors';
import type { ChunkSink, PeerRequestHandler } from './peer-handler';
import type { DiscoveryHooks } from './peer-connection';

export type Hello = z.output<(typeof ControlSchemas)[MsgType.HELLO]>;
export type QueryBody = z.output<(typeof ControlSchemas)[MsgType.QUERY]>;
export type QueryHitBody = z.output<(typeof ControlSchemas)[MsgType.QUERY_HIT]>;
export interface NeighbourRef {
  nodeId: string;
  address: string;
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
  /**
   * The identity the peer proved with its TLS certificate (peer mutual TLS): a HELLO naming any
   * other node id is refused, so everything keyed on `remote.nodeId` keys on who the peer really is.
   */
  peerIdentity?: string;
  handshakeTimeoutMs?: number;
  /**
   * After HELLO: a connection on which nothing moves (no byte from the peer, none of ours flushed to
   * it) for this long is closed, unless we still owe it an answer or await one (see idleVerdict).
   * Unset = never (outgoing connections, owned by the jobs that dialled them). PEER_IDLE_TIMEOUT_MS.
   */
  idleTimeoutMs?: number;
  /**
   * Bytes of control frames (answers, ERRORs, HAVE_UPDATEs) written but not yet taken by the socket
   * this connection may hold; one more is not queued: a peer that does not read what it asked for is
   * cut off instead of growing our memory. At least MAX_CONTROL_FRAME. PEER_WRITE_QUEUE_BYTES.
   */
  maxWriteQueueBytes?: number;
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

export type ConnectionState = 'handshake' | 'open' | 'closed';

/** The body of control message T as it arrives (validated). */
export type ReceivedBody<T extends ControlType> = Extract<ControlMessage, { type: T }>['body'];

/**
 * A feature of the protocol (serving chunks, HAVEs, STORE, receipts, discovery): it registers for
 * the message types it takes, and the core hands them over once the handshake is done. A new
 * message type is a new feature, not an edit of the core.
 */
export interface ConnectionFeature {
  readonly controls: { [T in ControlType]?: (body: ReceivedBody<T>) => void };
  /** A STORE data frame starts: where its payload goes. */
  readonly store?: (header: Buffer, length: number) => DataSink;
  /** The connection closed: fail what waits, give back what is held for the peer. */
  closed?(err: PeerClosedError): void;
}

type Outgoing =
  | { kind: 'piece'; target: Buffer | ChunkSink; received: number; abandoned?: boolean; resolve(n: number): void; reject(e: Error): void }
  | { kind: 'manifest'; resolve(m: Manifest): void; reject(e: Error): void }
  | { kind: 'manifestPage'; resolve(p: ManifestPage): void; reject(e: Error): void }
  | { kind: 'ok'; resolve(): void; reject(e: Error): void }
  | { kind: 'neighbours'; resolve(p: NeighbourRef[]): void; reject(e: Error): void };
type AnswerKind = Exclude<Outgoing['kind'], 'piece'>;
type AnswerValue<K extends AnswerKind> = Parameters<Extract<Outgoing, { kind: K }>['resolve']>[0];

/** After our last frame, how long the peer gets to read it before the socket is destroyed. */
const LINGER_MS = 2000;

/** Control bytes a connection may have queued unless told otherwise (PEER_WRITE_QUEUE_BYTES's default). */
export const DEFAULT_WRITE_QUEUE_BYTES = 4 * 1024 * 1024;

/** What a connection is when nothing moved on it for its idle timeout. */
export type IdleVerdict = 'stalled' | 'busy' | 'idle';

/**
 * The idle timer fired (nothing received from the peer, nothing of ours flushed to it, for the whole
 * timeout): 'stalled' if our bytes wait for the peer to read them (it stopped reading: cut it off),
 * 'busy' if a request of either side is still unanswered (we are the slow one, e.g. waiting for an
 * upload slot, or the request's own timeout governs it: wait again), else 'idle' (close it).
 */
export function idleVerdict(s: { unflushedBytes: number; owedAnswers: number; awaitedAnswers: number }): IdleVerdict {
  if (s.unflushedBytes > 0) return 'stalled';
  if (s.owedAnswers > 0 || s.awaitedAnswers > 0) return 'busy';
  return 'idle';
}

const DISCARD: DataSink = { write() {}, end() {} };

/**
 * The protocol core of one peer connection, either side (docs/protocol.md): framing, the HELLO
 * handshake, matching answers to our requests by id, the in-flight limit on the peer's requests,
 * input backpressure and shutdown. Everything else is a ConnectionFeature. Any protocol
 * violation sends a fatal ERROR with the reason and closes only this connection.
 */
export class ConnectionCore {
  state: ConnectionState = 'handshake';
  remote?: Hello;
  closeReason?: string;
  /** Resolves with the peer's HELLO; rejects if the connection closes first. */
  readonly ready: Promise<Hello>;
  /** Resolves with the reason once the connection is closed. */
  readonly closed: Promise<string>;
  /** HAVE_REQUESTs (the one request without an id, counted apart) we sent and the peer sent, still unanswered. */
  outgoingHaves = 0;
  incomingHaves = 0;

  private resolveReady!: (h: Hello) => void;
  private rejectReady!: (e: Error) => void;
  private resolveClosed!: (reason: string) => void;
  private readonly decoder: FrameDecoder;
  private readonly maxInFlight: number;
  private readonly handshakeTimer: NodeJS.Timeout;
  private nextId = 1;
  // Requests we made, awaiting an answer.
  private readonly outgoing = new Map<number, Outgoing>();
  // Requests the peer made, not answered yet.
  private readonly incomingIds = new Set<number>();
  private readonly features: ConnectionFeature[] = [];
  private readonly controlHandlers = new Map<MsgType, (body: never) => void>();
  private storeHandler?: (header: Buffer, length: number) => DataSink;
  private pauses = 0;
  private readonly maxWriteQueue: number;
  /** Control bytes handed to the socket and not yet flushed by it (bounded by maxWriteQueue). */
  private queuedControlBytes = 0;
  private idleTimeoutMs?: number;
  private openListeners: Array<(h: Hello) => void> = [];

  constructor(
    readonly socket: Socket,
    readonly opts: PeerConnectionOptions,
  ) {
    this.maxInFlight = opts.maxRequestsInFlight ?? MAX_REQUESTS_IN_FLIGHT;
    this.maxWriteQueue = opts.maxWriteQueueBytes ?? DEFAULT_WRITE_QUEUE_BYTES;
    if (this.maxWriteQueue < MAX_CONTROL_FRAME) throw new RangeError(`maxWriteQueueBytes must be at least ${MAX_CONTROL_FRAME} (one control frame), got ${this.maxWriteQueue}`);
    this.idleTimeoutMs = opts.idleTimeoutMs;
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
    // A handler that takes download acks announces RECEIPT (issue 3); one that checks reported chunks, CORRUPT.
    const implied = [opts.handler?.receipt && RECEIPT_FEATURE, opts.handler?.corrupt && CORRUPT_NOTICE_FEATURE].filter((f): f is string => !!f);
    // Every connection takes and serves manifest pages (ChunkServing, PeerConnection.manifest).
    const features = [...new Set([...(opts.features ?? []), ...implied, MANIFEST_PAGES_FEATURE])];
    this.sendControl(MsgType.HELLO, { version: PROTOCOL_VERSION, nodeId: opts.nodeId, listen: opts.listen, features });
  }

  /** Take the feature's message types; each type has one feature. */
  protected use<F extends ConnectionFeature>(feature: F): F {
    for (const [type, fn] of Object.entries(feature.controls)) {
      if (this.controlHandlers.has(Number(type))) throw new Error(`two features take ${MsgType[Number(type)]}`);
      this.controlHandlers.set(Number(type), fn as (body: never) => void);
    }
    if (feature.store) this.storeHandler = feature.store;
    this.features.push(feature);
    return feature;
  }

  /**
   * Run `fn` with the peer's HELLO once it is accepted, before any later frame of the peer is read
   * (at once if the connection is open already; never if it closes first). What a listener decides
   * (e.g. the overlay adopting the link) thus holds for every message after HELLO.
   */
  whenOpen(fn: (h: Hello) => void): void {
    if (this.state === 'open') fn(this.remote!);
    else if (this.state === 'handshake') this.openListeners.push(fn);
  }

  /** No idle timeout on this connection any more (an overlay link: few, bounded, and quiet by nature). */
  exemptFromIdleTimeout(): void {
    this.idleTimeoutMs = undefined;
    this.socket.setTimeout(0);
  }

  /** True when the peer's node id was proven by its certificate (not just claimed in HELLO). */
  get authenticated(): boolean {
    return this.opts.peerIdentity !== undefined && this.state === 'open';
  }

  get label(): string {
    return this.opts.label ?? `${this.socket.remoteAddress}:${this.socket.remotePort}`;
  }

  /** Requests with an id we have outstanding (what the peer counts against MAX_REQUESTS_IN_FLIGHT). */
  get requestsInFlight(): number {
    return this.outgoing.size;
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

  // ---------------------------------------------------------------- requests we make

  /** Throws unless a request may go now: the connection is open and under the in-flight limit of its kind. */
  assertCanRequest(kind: 'numbered' | 'have' = 'numbered'): void {
    if (this.state !== 'open') throw new PeerClosedError(this.state === 'closed' ? (this.closeReason ?? 'connection closed') : 'HELLO not exchanged yet');
    if (kind === 'have') {
      if (this.outgoingHaves >= MAX_HAVE_REQUESTS_IN_FLIGHT) {
        throw new SwarmError('BAD_REQUEST', `already ${this.outgoingHaves} HAVE_REQUESTs in flight to ${this.label}; the protocol allows ${MAX_HAVE_REQUESTS_IN_FLIGHT}`);
      }
    } else if (this.requestsInFlight >= this.maxInFlight) {
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

  /** Send a request with a fresh id (`send` writes it) and wait for its answer of `kind`. */
  ask<K extends AnswerKind>(kind: K, send: (id: number) => void): Promise<AnswerValue<K>> {
    const id = this.allocId();
    return new Promise((resolve, reject) => {
      this.outgoing.set(id, { kind, resolve, reject } as Outgoing);
      send(id);
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

  /** Ask the peer to drop a queued REQUEST; it still answers it (PIECE, or ERROR code CANCELLED). */
  cancel(id: number): void {
    if (this.outgoing.get(id)?.kind === 'piece') this.sendControl(MsgType.CANCEL, { id });
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
      case MsgType.MANIFEST: {
        const p = this.answer(m.body.id, 'MANIFEST', 'manifest');
        return p.kind === 'manifest' ? p.resolve(m.body.manifest) : undefined;
      }
      case MsgType.MANIFEST_PAGE: {
        const p = this.answer(m.body.id, 'MANIFEST_PAGE', 'manifestPage');
        const { id: _, ...page } = m.body;
        return p.kind === 'manifestPage' ? p.resolve(page) : undefined;
      }
      case MsgType.OK: {
        const p = this.answer(m.body.id, 'OK', 'ok');
        return p.kind === 'ok' ? p.resolve() : undefined;
      }
      case MsgType.NEIGHBOURS: {
        const p = this.answer(m.body.id, 'NEIGHBOURS', 'neighbours');
        return p.kind === 'neighbours' ? p.resolve(m.body.peers) : undefined;
      }
    }
    const take = this.controlHandlers.get(m.type);
    if (!take) throw new ProtocolError(`${MsgType[m.type]} is not taken on this connection`);
    take(m.body as never);
  }

  private onDataStart(type: MsgType.PIECE | MsgType.STORE, header: Buffer, length: number): DataSink {
    if (this.state === 'closed') return DISCARD;
    if (this.state === 'handshake') throw new ProtocolError(`${MsgType[type]} data frame before HELLO`);
    this.opts.onChunkBytes?.('received', this.remote?.nodeId ?? this.label, length);
    if (type === MsgType.PIECE) return this.pieceSink(decodeDataHeader(MsgType.PIECE, header).id, length);
    if (!this.storeHandler) throw new ProtocolError('STORE is not taken on this connection');
    return this.storeHandler(header, length);
  }

  private onHello(h: Hello): void {
    if (h.version !== PROTOCOL_VERSION) {
      return this.fail('PROTOCOL', `unsupported protocol version ${h.version}; this peer speaks version ${PROTOCOL_VERSION}`);
    }
    if (this.opts.peerIdentity !== undefined && h.nodeId !== this.opts.peerIdentity) {
      return this.fail('AUTH', `HELLO names node ${h.nodeId.slice(0, 100)}, but the certificate of ${this.label} is issued to ${this.opts.peerIdentity}`);
    }
    if (this.opts.expectNodeId && h.nodeId !== this.opts.expectNodeId) {
      return this.fail('PROTOCOL', `expected node ${this.opts.expectNodeId} at ${this.label}, but this is ${h.nodeId}`);
    }
    clearTimeout(this.handshakeTimer);
    this.remote = h;
    this.state = 'open';
    if (this.idleTimeoutMs !== undefined) {
      // Node's socket timer: re-armed by every read and every completed write of ours.
      this.socket.on('timeout', () => this.onIdleTimer());
      this.socket.setTimeout(this.idleTimeoutMs);
    }
    const listeners = this.openListeners;
    this.openListeners = [];
    for (const fn of listeners) fn(h);
    this.resolveReady(h);
  }

  private onIdleTimer(): void {
    const ms = this.idleTimeoutMs;
    if (ms === undefined || this.state !== 'open') return;
    const unflushedBytes = this.socket.writableLength;
    const verdict = idleVerdict({
      unflushedBytes,
      owedAnswers: this.incomingIds.size + this.incomingHaves + this.pauses,
      awaitedAnswers: this.outgoing.size + this.outgoingHaves,
    });
    if (verdict === 'stalled') return this.abort(`the peer read nothing for ${ms} ms with ${unflushedBytes} bytes waiting for it (PEER_IDLE_TIMEOUT_MS)`);
    if (verdict === 'busy') return void this.socket.setTimeout(ms);
    this.fail('TIMEOUT', `idle for ${ms} ms after HELLO (PEER_IDLE_TIMEOUT_MS): nothing asked, nothing sent`);
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

  // ---------------------------------------------------------------- the peer's requests (for features)

  /**
   * Count a request the peer made: one with an id, or (no id) a HAVE_REQUEST, each kind against its
   * own limit. Past the limit, or reusing a live id, is a protocol error.
   */
  admit(id?: number): void {
    if (id === undefined) {
      if (this.incomingHaves >= MAX_HAVE_REQUESTS_IN_FLIGHT) throw new ProtocolError(`more than ${MAX_HAVE_REQUESTS_IN_FLIGHT} HAVE_REQUESTs in flight`);
      return;
    }
    if (this.incomingIds.size >= this.maxInFlight) {
      throw new ProtocolError(`more than ${this.maxInFlight} requests in flight`);
    }
    if (this.incomingIds.has(id)) throw new ProtocolError(`request id ${id} is already in flight`);
    this.incomingIds.add(id);
  }

  /** The answer to request `id` is on the socket: the id is free for the peer again. False if it was answered already. */
  answered(id: number): boolean {
    return this.incomingIds.delete(id);
  }

  /** Answer request `id` with `type` unless it was answered already (cancelled). */
  reply<T extends ControlType>(id: number, type: T, body: ControlBody<T>): void {
    if (this.incomingIds.delete(id)) this.sendControl(type, body);
  }

  /** Answer request `id`: with an error body, or by the frame already written. */
  settleIncoming(id: number, err?: unknown): void {
    if (!this.incomingIds.delete(id)) return;
    if (err === undefined) return;
    const body = err instanceof PeerRequestError ? { code: err.code, message: err.message } : toErrorBody(err);
    this.sendControl(MsgType.ERROR, { id, code: body.code, message: body.message.slice(0, 1000), fatal: false });
  }

  /** The request handler, or a refusal naming this side. */
  handler(): PeerRequestHandler {
    if (!this.opts.handler) throw new SwarmError('UNAVAILABLE', `${this.opts.nodeId} serves nothing`);
    return this.opts.handler;
  }

  /** Backpressure: input stops while any holder of a pause (a STORE waiting for its lease) keeps it. */
  pauseInput(): void {
    if (this.pauses++ === 0) this.socket.pause();
  }

  resumeInput(): void {
    if (--this.pauses === 0 && this.state !== 'closed') this.socket.resume();
  }

  // ---------------------------------------------------------------- output and shutdown

  /** A method, so TypeScript does not narrow the state across awaits. */
  isClosed(): boolean {
    return this.state === 'closed';
  }

  /**
   * Control frames go through a bounded queue: the socket's own buffer, with the bytes not yet
   * flushed counted. A frame that would take it past maxWriteQueue is not queued; the peer, which
   * is not reading what it asked for, is cut off (no ERROR: it would not read that either).
   */
  sendControl<T extends ControlType>(type: T, body: ControlBody<T>): void {
    if (this.state === 'closed' || this.socket.destroyed) return;
    const frame = encodeControl(type, body);
    if (this.queuedControlBytes + frame.length > this.maxWriteQueue) {
      return this.abort(`the peer does not read: ${this.queuedControlBytes} bytes of control frames are queued for it and ${frame.length} more would pass the ${this.maxWriteQueue}-byte limit (PEER_WRITE_QUEUE_BYTES)`);
    }
    this.queuedControlBytes += frame.length;
    this.socket.write(frame, () => (this.queuedControlBytes -= frame.length));
  }

  /** Control bytes queued for the peer and not yet taken by the socket (at most maxWriteQueueBytes). */
  get queuedControl(): number {
    return this.queuedControlBytes;
  }

  /** Drop the connection at once (no last frame, no linger): for a peer that does not read. */
  private abort(reason: string): void {
    if (this.state === 'closed') return;
    this.opts.logger?.warn({ peer: this.label, remoteNode: this.remote?.nodeId, reason }, 'dropping peer connection');
    this.terminate(reason);
    this.socket.destroy();
  }

  private terminate(reason: string, lastFrame?: Buffer): void {
    if (this.state === 'closed') return;
    const wasHandshake = this.state === 'handshake';
    this.state = 'closed';
    this.closeReason = reason;
    clearTimeout(this.handshakeTimer);
    this.openListeners = [];
    this.socket.setTimeout(0);
    const err = new PeerClosedError(`connection to ${this.label} closed: ${reason}`);
    for (const p of this.outgoing.values()) p.reject(err);
    this.outgoing.clear();
    for (const f of this.features) f.closed?.(err);
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
