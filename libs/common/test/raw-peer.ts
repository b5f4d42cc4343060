import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import {
  type ControlBody,
  type ControlType,
  type ControlMessage,
  FrameDecoder,
  MsgType,
  PROTOCOL_VERSION,
  decodeDataHeader,
  encodeControl,
  encodeDataPrefix,
  type PeerTlsMaterial,
  peerTlsClientOptions,
} from '@swarmshare/common';

export type RawFrame =
  | ControlMessage
  | { type: MsgType.PIECE; id: number; data: Buffer }
  | { type: MsgType.STORE; id: number; index: number; fileId: string; data: Buffer };

/**
 * A hand-driven peer for tests: writes whatever bytes it is told (valid or not) and records every
 * frame the other side sends, so tests can check exactly what a gateway answers to abuse.
 */
export class RawPeer {
  readonly frames: RawFrame[] = [];
  closed = false;
  decodeError?: string;
  private waiters: Array<() => void> = [];
  private readonly decoder: FrameDecoder;

  constructor(readonly socket: Socket) {
    this.decoder = new FrameDecoder({
      control: (m) => this.record(m),
      dataStart: (type, header, length) => {
        const parts: Buffer[] = [];
        return {
          write: (s) => parts.push(Buffer.from(s)),
          end: () => {
            const data = Buffer.concat(parts, length);
            if (type === MsgType.PIECE) this.record({ type, id: decodeDataHeader(MsgType.PIECE, header).id, data });
            else this.record({ type, ...decodeDataHeader(MsgType.STORE, header), data });
          },
        };
      },
    });
    socket.on('data', (d: Buffer) => {
      if (this.decodeError) return;
      try {
        this.decoder.push(d);
      } catch (e) {
        this.decodeError = (e as Error).message;
        this.wake();
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  /** With `tls`, the bytes go over mutual TLS (a gateway with PEER_TLS=on takes nothing else). */
  static connect(port: number, host = '127.0.0.1', tls?: PeerTlsMaterial): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const s = tls ? tlsConnect({ port, host, ...peerTlsClientOptions(tls) }) : connect({ port, host });
      s.once(tls ? 'secureConnect' : 'connect', () => resolve(new RawPeer(s)));
      s.once('error', reject);
    });
  }


  private record(f: RawFrame): void {
    this.frames.push(f);
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  write(bytes: Buffer | string): void {
    this.socket.write(bytes);
  }

  send<T extends ControlType>(type: T, body: ControlBody<T>): void {
    this.socket.write(encodeControl(type, body));
  }

  hello(nodeId = 'cli-rawtest', version = PROTOCOL_VERSION): void {
    this.send(MsgType.HELLO, { version, nodeId, listen: null, features: [] });
  }

  piece(id: number, data: Buffer): void {
    this.socket.write(Buffer.concat([encodeDataPrefix(MsgType.PIECE, { id }, data.length), data]));
  }

  storeChunk(id: number, fileId: string, index: number, data: Buffer): void {
    this.socket.write(Buffer.concat([encodeDataPrefix(MsgType.STORE, { id, index, fileId }, data.length), data]));
  }

  /** Wait for a frame matching `pred` (already received or coming). */
  async frame<F extends RawFrame = RawFrame>(pred: (f: RawFrame) => boolean, timeoutMs = 10000): Promise<F> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const f = this.frames.find(pred);
      if (f) return f as F;
      if (this.closed) throw new Error(`connection closed without the expected frame; got ${this.describe()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no expected frame within ${timeoutMs} ms; got ${this.describe()}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** The fatal ERROR the other side sent before closing. */
  async fatalError(timeoutMs = 10000): Promise<{ code: string; message: string }> {
    const f = await this.frame((x) => x.type === MsgType.ERROR && (x as { body: { fatal: boolean } }).body.fatal, timeoutMs);
    return (f as { body: { code: string; message: string } }).body;
  }

  async waitClosed(timeoutMs = 10000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error(`connection still open after ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 50);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  describe(): string {
    return JSON.stringify(this.frames.map((f) => ('body' in f ? { type: MsgType[f.type], body: f.body } : { type: MsgType[f.type], id: f.id, bytes: f.data.length })));
  }

  destroy(): void {
    this.socket.destroy();
  }
}
