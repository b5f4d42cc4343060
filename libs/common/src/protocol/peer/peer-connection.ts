import { connect as netConnect, type Socket } from 'node:net';
import { type ConnectionOptions, connect as tlsConnect, type TLSSocket } from 'node:tls';
import { identityFromSubjectAltName } from '../../security/peer-identity';
import { type PeerTlsMaterial, peerTlsClientOptions } from '../../security/peer-tls';
import type { Bitfield } from '../../bitfield';
import { SwarmError } from '../../errors';
import { type Manifest, MAX_WHOLE_MANIFEST_HASHES } from '../../schemas';
import { collectManifestPages } from '../../manifest-pages';
import { encodeDataPrefix } from '../codec';
import { DISCOVERY_FEATURE, MANIFEST_PAGES_FEATURE, MAX_DATA_PAYLOAD, MsgType, RECEIPT_FEATURE } from '../messages';
import { ConnectionCore, type NeighbourRef, type PeerConnectionOptions, type QueryBody, type QueryHitBody } from './connection-core';
import { ChunkServing } from './features/chunk-serving';
import { CorruptNotices } from './features/corrupt-notices';
import { DiscoveryMessages } from './features/discovery-messages';
import { HaveExchange } from './features/have-exchange';
import { Receipts } from './features/receipts';
import { StoreReceiving } from './features/store-receiving';
import { PeerClosedError } from './peer-errors';
import type { HaveUpdateTarget, OfferReservation } from './peer-handler';


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

/** Bytes per socket read on outgoing connections: one reused buffer each, so downloads make no garbage. */
export const READ_BUFFER_BYTES = 256 * 1024;

/** How long a peer gets to answer our MANIFEST_REQUEST or HAVE_REQUEST by default (PEER_ANSWER_TIMEOUT_MS). */
export const DEFAULT_PEER_ANSWER_TIMEOUT_MS = 15_000;

export interface AnswerTimeoutOptions {
  /**
   * A MANIFEST_REQUEST or HAVE_REQUEST not answered within this many ms (while no chunk data came
   * from the peer either) closes the connection with TIMEOUT: a peer that says HELLO and then goes
   * silent cannot hang whoever waits on it. Default DEFAULT_PEER_ANSWER_TIMEOUT_MS.
   */
  answerTimeoutMs?: number;
}

/**
 * One peer protocol v1 connection, either side (docs/protocol.md): the protocol core
 * (ConnectionCore: framing, handshake, request matching, limits) with every feature registered
 * (features/: chunk serving, HAVE and HAVE_UPDATE, STORE receiving, receipts, discovery), and the
 * requests this side can make. Both sides say HELLO first; after that either may send requests
 * and must answer the other's.
 */
export class PeerConnection extends ConnectionCore implements HaveUpdateTarget {
  private readonly haves = this.use(new HaveExchange(this));
  private readonly corruptNotices = this.use(new CorruptNotices(this));
  private readonly answerTimeoutMs: number;
  /** When chunk data last arrived from the peer: an answer queued behind PIECEs is late, not lost. */
  private readonly chunkInput: { at: number };

  constructor(socket: Socket, opts: PeerConnectionOptions & AnswerTimeoutOptions) {
    const chunkInput = { at: 0 };
    super(socket, {
      ...opts,
      onChunkBytes: (direction, peer, bytes) => {
        if (direction === 'received') chunkInput.at = performance.now();
        opts.onChunkBytes?.(direction, peer, bytes);
      },
    });
    this.chunkInput = chunkInput;
    this.answerTimeoutMs = opts.answerTimeoutMs ?? DEFAULT_PEER_ANSWER_TIMEOUT_MS;
    const serving = this.use(new ChunkServing(this));
    this.use(new StoreReceiving(this));
    this.use(new Receipts(this, serving));
    this.use(new DiscoveryMessages(this));
  }

  have(fileId: string): Promise<{ chunkCount: number; bitfield: Bitfield }> {
    return this.answerWithin('HAVE_REQUEST', this.haves.have(fileId));
  }

  /**
   * The file's manifest: in pages from a peer that announced "manifest-pages" (any size, each page
   * checked, at most MAX_CHUNKS hashes), whole from an older one (at most one frame).
   */
  manifest(fileId: string): Promise<Manifest> {
    const whole = () => this.ask('manifest', (id) => this.sendControl(MsgType.MANIFEST_REQUEST, { id, fileId }));
    if (!this.remote?.features.includes(MANIFEST_PAGES_FEATURE)) return this.answerWithin('MANIFEST_REQUEST', whole());
    // Each page is an answer owed within the timeout.
    return collectManifestPages(fileId, (from, count) => this.answerWithin('MANIFEST_REQUEST', this.ask('manifestPage', (id) => this.sendControl(MsgType.MANIFEST_REQUEST, { id, fileId, from, count }))), {
      source: `peer ${this.remote.nodeId}`,
    });
  }

  /**
   * The peer owes us `answer`: unanswered after answerTimeoutMs, counted from the request or from
   * the last chunk data it sent (the answer may be queued behind PIECEs on a slow link), the
   * connection is closed with TIMEOUT and every request on it fails. Closing, not just giving up:
   * HAVE has no id, so a late one would be taken as the answer to the next HAVE_REQUEST.
   */
  private answerWithin<T>(request: string, answer: Promise<T>): Promise<T> {
    const ms = this.answerTimeoutMs;
    const asked = performance.now();
    let timer: NodeJS.Timeout;
    const check = () => {
      const left = Math.max(asked, this.chunkInput.at) + ms - performance.now();
      if (left > 0) {
        timer = setTimeout(check, left);
        timer.unref();
        return;
      }
      this.fail('TIMEOUT', `no answer to ${request} within ${ms} ms (PEER_ANSWER_TIMEOUT_MS)`);
    };
    timer = setTimeout(check, ms);
    timer.unref();
    return answer.finally(() => clearTimeout(timer));
  }

  requestChunk(fileId: string, index: number, target: Buffer): Promise<number> {
    return this.sendRequest(fileId, index, target).done;
  }

  /** STORE_OFFER: ask the peer to hold this file. */
  offer(manifest: Manifest, reservation?: OfferReservation): Promise<void> {
    if (manifest.hashes.length > MAX_WHOLE_MANIFEST_HASHES) {
      // STORE_OFFER carries the manifest whole (docs/protocol.md): a larger file is shared on its node's host (import) or fetched, not pushed.
      return Promise.reject(
        new SwarmError('TOO_LARGE', `${manifest.name} has ${manifest.hashes.length} chunks; a push (STORE_OFFER) carries at most ${MAX_WHOLE_MANIFEST_HASHES}: share it on the node's host, or use a larger --chunk-size`),
      );
    }
    return this.ask('ok', (id) => this.sendControl(MsgType.STORE_OFFER, reservation ? { id, manifest, reservation } : { id, manifest }));
  }

  /** STORE: push one chunk; resolves once the peer has verified and stored it. */
  store(fileId: string, index: number, data: Buffer): Promise<void> {
    if (data.length > MAX_DATA_PAYLOAD) throw new SwarmError('TOO_LARGE', `a chunk of ${data.length} bytes exceeds the ${MAX_DATA_PAYLOAD}-byte limit`);
    return this.ask('ok', (id) => {
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
    return this.ask('neighbours', (id) => this.sendControl(MsgType.NEIGHBOURS_REQUEST, { id }));
  }

  /** QUERY: fire and forget; holders connect back to the origin. */
  query(q: QueryBody): void {
    this.assertDiscovery();
    this.sendControl(MsgType.QUERY, q);
  }

  /** QUERY_HIT on a connect-back connection; resolves if the origin wants chunks from us. */
  queryHit(hit: Omit<QueryHitBody, 'id'>): Promise<void> {
    this.assertDiscovery();
    return this.ask('ok', (id) => this.sendControl(MsgType.QUERY_HIT, { id, ...hit }));
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
    await this.ask('ok', (id) => this.sendControl(MsgType.RECEIPT, { id, fileId, bytes, chunks }));
    return true;
  }

  /** CORRUPT: tell the holder chunk `index` it served us failed its hash; false if it does not take notices. */
  reportCorrupt(fileId: string, index: number): boolean {
    return this.corruptNotices.send(fileId, index);
  }

  /**
   * Have-updates: `listener` hears the chunks the peer stored after it answered our HAVE for that
   * file (only files we asked about, indexes already checked). Returns the unsubscribe function.
   */
  onHaveUpdate(listener: (fileId: string, indexes: number[]) => void): () => void {
    return this.haves.onHaveUpdate(listener);
  }

  /** HAVE_UPDATE, split into frames of at most MAX_HAVE_UPDATE_INDEXES; only to a peer that announced the feature. */
  sendHaveUpdate(fileId: string, indexes: number[]): void {
    this.haves.sendHaveUpdate(fileId, indexes);
  }
}

/** Split host:port (or [v6]:port). */
export function parseAddress(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  if (i <= 0) throw new SwarmError('BAD_REQUEST', `peer address "${address}" is not host:port`);
  return { host: address.slice(0, i).replace(/^\[(.*)\]$/, '$1'), port: Number(address.slice(i + 1)) };
}

export type ConnectPeerOptions = PeerConnectionOptions & AnswerTimeoutOptions & {
  connectTimeoutMs?: number;
  /** Peer mutual TLS: present this certificate and accept only a server certified by the same CA. */
  tls?: PeerTlsMaterial;
  /** Called on the peer's HELLO, before any later frame of it is read (ConnectionCore.whenOpen). */
  opened?(conn: PeerConnection): void;
};

/** The connection dialled, with `opened` registered before a byte of the peer is read. */
function dialled(socket: Socket, opts: ConnectPeerOptions & PeerConnectionOptions): PeerConnection {
  const conn = new PeerConnection(socket, opts);
  const opened = opts.opened;
  if (opened) conn.whenOpen(() => opened(conn));
  return conn;
}

/** Dial a peer and complete the handshake. */
export async function connectPeer(address: string, opts: ConnectPeerOptions): Promise<PeerConnection> {
  const { host, port } = parseAddress(address);
  const timeoutMs = opts.connectTimeoutMs ?? 5000;
  const reads = reusedReadBuffer();
  if (opts.tls) return connectPeerTls(address, host, port, timeoutMs, opts.tls, opts, reads);
  const socket = await dial<Socket>(address, timeoutMs, 'connect', () => netConnect({ host, port, onread: reads.onread }));
  const conn = dialled(socket, { label: address, ...opts, attachReader: reads.attach });
  await conn.ready;
  return conn;
}

interface ReusedReads {
  /** For net.connect / tls.connect. */
  onread: { buffer: Buffer; callback(n: number, buf: Uint8Array): boolean };
  /** The connection's reader (ConnectionCore's attachReader). */
  attach(fn: (d: Buffer) => void): void;
}

/**
 * A download's PIECE bytes go from one buffer per connection straight into the chunk file (the
 * decoder and the sinks copy whatever they keep), instead of a fresh Buffer per read for the GC to
 * collect: over TLS, 512 MiB on loopback took 0.76 CPU-s instead of about 1.1 (docs/performance.md).
 * What arrives before the connection attaches its reader (a TLS peer's HELLO can come with the
 * handshake) is copied and handed over on attach.
 */
function reusedReadBuffer(): ReusedReads {
  let reader: ((d: Buffer) => void) | undefined;
  let early: Buffer[] = [];
  return {
    onread: {
      // A Buffer, not a function: Node calls a function for a fresh buffer on every read.
      buffer: Buffer.allocUnsafe(READ_BUFFER_BYTES),
      callback: (n: number, buf: Uint8Array): boolean => {
        const view = Buffer.from(buf.buffer, buf.byteOffset, n);
        if (reader) reader(view);
        else early.push(Buffer.from(view));
        return true;
      },
    },
    attach: (fn) => {
      reader = fn;
      const held = early;
      early = [];
      for (const b of held) fn(b);
    },
  };
}

/** Open a socket, waiting for `event` (connected, or TLS handshake done) at most timeoutMs. */
function dial<S extends Socket>(address: string, timeoutMs: number, event: 'connect' | 'secureConnect', open: () => S): Promise<S> {
  return new Promise<S>((resolve, reject) => {
    const s = open();
    const timer = setTimeout(() => {
      s.destroy();
      reject(new PeerClosedError(`cannot connect to ${address}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    s.once(event, () => {
      clearTimeout(timer);
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', (e) => {
      clearTimeout(timer);
      reject(new PeerClosedError(`cannot connect to ${address}: ${e.message}`));
    });
  });
}

/**
 * Dial over mutual TLS: the server's certificate must chain to our CA and name the node we meant to
 * reach; the HELLO that follows must name the same node (ConnectionCore checks).
 */
async function connectPeerTls(address: string, host: string, port: number, timeoutMs: number, tls: PeerTlsMaterial, opts: ConnectPeerOptions, reads: ReusedReads): Promise<PeerConnection> {
  // tls.connect takes onread as net.connect does; @types/node does not list it.
  const socket = await dial<TLSSocket>(address, timeoutMs, 'secureConnect', () => tlsConnect({ host, port, ...peerTlsClientOptions(tls), onread: reads.onread } as ConnectionOptions));
  const identity = identityFromSubjectAltName(socket.getPeerCertificate().subjectaltname);
  const refuse = (why: string) => {
    socket.destroy();
    return new PeerClosedError(`refusing ${address}: ${why}`);
  };
  if (!identity) throw refuse('its certificate names no peer identity');
  if (opts.expectNodeId && identity !== opts.expectNodeId) throw refuse(`expected node ${opts.expectNodeId}, but its certificate is issued to ${identity}`);
  const conn = dialled(socket, { label: address, ...opts, peerIdentity: identity, attachReader: reads.attach });
  await conn.ready;
  return conn;
}
