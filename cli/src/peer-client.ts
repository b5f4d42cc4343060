import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import {
  encodeControl,
  encodeDataPrefix,
  FrameDecoder,
  type Manifest,
  MsgType,
  PROTOCOL_VERSION,
  SwarmError,
  isErrorCode,
  decodeDataHeader,
  type DataSink,
  type ControlMessage,
} from '@swarmshare/common';

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
  /** For REQUEST: where the PIECE payload goes. */
  target?: Buffer;
  timer: NodeJS.Timeout;
}

/**
 * The CLI's side of the peer protocol: it serves nothing (HELLO with a cli- id and no listen
 * address) and talks only to its own node's gateway, to push a shared file in (STORE_OFFER/STORE)
 * and to read a fetched file out (MANIFEST_REQUEST, REQUEST/PIECE).
 */
export class PeerClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private closedError?: Error;
  private helloResolve?: () => void;

  private constructor(
    private readonly socket: Socket,
    readonly address: string,
    private readonly timeoutMs: number,
  ) {}

  static async connect(address: string, timeoutMs = 30_000): Promise<PeerClient> {
    const i = address.lastIndexOf(':');
    const host = address.slice(0, i).replace(/^\[|\]$/g, '');
    const port = Number(address.slice(i + 1));
    const socket = connect({ host, port, noDelay: true });
    const client = new PeerClient(socket, address, timeoutMs);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', (e) => reject(new SwarmError('UNAVAILABLE', `cannot connect to peer ${address}: ${e.message}`)));
    });
    client.attach();
    const hello = new Promise<void>((resolve) => (client.helloResolve = resolve));
    socket.write(encodeControl(MsgType.HELLO, { version: PROTOCOL_VERSION, nodeId: `cli-${randomBytes(4).toString('hex')}`, listen: null, features: [] }));
    await Promise.race([hello, new Promise((_, reject) => setTimeout(() => reject(new SwarmError('TIMEOUT', `peer ${address} did not answer HELLO`)), timeoutMs).unref())]);
    return client;
  }

  private attach(): void {
    const decoder = new FrameDecoder({
      control: (m) => this.onControl(m),
      dataStart: (type, header, length) => this.onData(type, header, length),
    });
    this.socket.on('data', (d: Buffer) => {
      try {
        decoder.push(d);
      } catch (e) {
        this.fail(new SwarmError('PROTOCOL', `peer ${this.address} broke the protocol: ${(e as Error).message}`));
      }
    });
    this.socket.on('error', (e) => this.fail(new SwarmError('UNAVAILABLE', `connection to ${this.address} failed: ${e.message}`)));
    this.socket.on('close', () => this.fail(new SwarmError('UNAVAILABLE', `peer ${this.address} closed the connection`)));
  }

  private fail(err: Error): void {
    if (this.closedError) return;
    this.closedError = err;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
    this.socket.destroy();
  }

  private settle(id: number | undefined, fn: (p: Pending) => void): void {
    if (id === undefined) return;
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    fn(p);
  }

  private onControl(m: ControlMessage): void {
    switch (m.type) {
      case MsgType.HELLO:
        this.helloResolve?.();
        return;
      case MsgType.OK:
        return this.settle(m.body.id, (p) => p.resolve(undefined));
      case MsgType.MANIFEST:
        return this.settle(m.body.id, (p) => p.resolve(m.body.manifest));
      case MsgType.ERROR: {
        const err = new SwarmError(isErrorCode(m.body.code) ? m.body.code : 'PROTOCOL', `peer ${this.address}: ${m.body.message}`);
        if (m.body.id !== undefined && this.pending.has(m.body.id)) return this.settle(m.body.id, (p) => p.reject(err));
        if (m.body.fatal) this.fail(err);
        return;
      }
      default:
        return;
    }
  }

  private onData(type: MsgType.PIECE | MsgType.STORE, header: Buffer, length: number): DataSink {
    if (type !== MsgType.PIECE) throw new Error('a client never accepts STORE frames');
    const { id } = decodeDataHeader(MsgType.PIECE, header);
    const p = this.pending.get(id);
    if (!p?.target) throw new Error(`PIECE for request ${id}, which was never made`);
    if (length !== p.target.length) throw new Error(`PIECE for request ${id} has ${length} bytes, expected ${p.target.length}`);
    const target = p.target;
    let pos = 0;
    return {
      write: (slice) => {
        slice.copy(target, pos);
        pos += slice.length;
      },
      end: () => this.settle(id, (q) => q.resolve(target)),
    };
  }

  private call<T>(send: (id: number) => void, target?: Buffer): Promise<T> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => this.settle(id, (p) => p.reject(new SwarmError('TIMEOUT', `peer ${this.address} did not answer request ${id} within ${this.timeoutMs} ms`))), this.timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, target, timer });
      send(id);
    });
  }

  /** Ask the node to hold this file; it preallocates the space. */
  offer(manifest: Manifest): Promise<void> {
    return this.call((id) => this.socket.write(encodeControl(MsgType.STORE_OFFER, { id, manifest })));
  }

  /** Push one chunk; resolves when the node has verified and stored it. */
  store(fileId: string, index: number, data: Buffer): Promise<void> {
    return this.call((id) => {
      this.socket.write(encodeDataPrefix(MsgType.STORE, { id, index, fileId }, data.length));
      this.socket.write(data);
    });
  }

  manifest(fileId: string): Promise<Manifest> {
    return this.call((id) => this.socket.write(encodeControl(MsgType.MANIFEST_REQUEST, { id, fileId })));
  }

  /** Read one chunk into `target`, whose length must be the chunk's length. */
  request(fileId: string, index: number, target: Buffer): Promise<Buffer> {
    return this.call((id) => this.socket.write(encodeControl(MsgType.REQUEST, { id, fileId, index })), target);
  }

  close(): void {
    this.closedError ??= new SwarmError('UNAVAILABLE', 'client closed');
    this.socket.end();
  }
}
