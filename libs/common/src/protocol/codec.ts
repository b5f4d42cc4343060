import { describeZodError } from '../schemas';
import {
  ControlSchemas,
  type ControlBody,
  type ControlMessage,
  type ControlType,
  DATA_HEADER_LENGTH,
  MAX_CONTROL_BODY,
  MAX_DATA_PAYLOAD,
  MsgType,
  encodeDataHeaderBody,
  type PieceHeader,
  type StoreHeader,
} from './messages';

/** A peer broke the protocol. The connection is closed with this reason; nothing else is affected. */
export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

export function encodeControl<T extends ControlType>(type: T, body: ControlBody<T>): Buffer {
  const json = Buffer.from(JSON.stringify(body), 'utf8');
  if (json.length > MAX_CONTROL_BODY) throw new ProtocolError(`control frame of ${json.length} bytes exceeds ${MAX_CONTROL_BODY}`);
  const frame = Buffer.allocUnsafe(5 + json.length);
  frame.writeUInt32BE(1 + json.length, 0);
  frame.writeUInt8(type, 4);
  json.copy(frame, 5);
  return frame;
}

/** The bytes that precede a data frame's payload; the caller writes the payload itself (from the mapping). */
export function encodeDataPrefix(type: MsgType.PIECE, header: PieceHeader, payloadLength: number): Buffer;
export function encodeDataPrefix(type: MsgType.STORE, header: StoreHeader, payloadLength: number): Buffer;
export function encodeDataPrefix(type: MsgType.PIECE | MsgType.STORE, header: PieceHeader | StoreHeader, payloadLength: number): Buffer {
  if (payloadLength > MAX_DATA_PAYLOAD) throw new ProtocolError(`data payload of ${payloadLength} bytes exceeds ${MAX_DATA_PAYLOAD}`);
  const h = encodeDataHeaderBody(type as MsgType.PIECE, header as PieceHeader);
  const prefix = Buffer.allocUnsafe(5 + h.length);
  prefix.writeUInt32BE(1 + h.length + payloadLength, 0);
  prefix.writeUInt8(type, 4);
  h.copy(prefix, 5);
  return prefix;
}

/** Where a data frame's payload goes: typically a write lease's mapped region. */
export interface DataSink {
  /** Called with consecutive slices of the payload; they are views on socket buffers, copy if kept. */
  write(slice: Buffer): void;
  /** The whole payload has arrived. */
  end(): void;
}

export interface FrameHandlers {
  control(msg: ControlMessage): void;
  /** A data frame begins. Return the sink for its `length` payload bytes. */
  dataStart(type: MsgType.PIECE | MsgType.STORE, header: Buffer, length: number): DataSink;
}

type State =
  | { kind: 'prefix' }
  | { kind: 'control'; type: ControlType; length: number }
  | { kind: 'dataHeader'; type: MsgType.PIECE | MsgType.STORE; headerLength: number; payloadLength: number }
  | { kind: 'dataPayload'; sink: DataSink; remaining: number };

/**
 * Incremental frame decoder. Feed it socket data; it calls the handlers as frames complete.
 * Limits are checked on the 5-byte prefix, before any body byte is buffered, so a peer that claims
 * 4 GiB gets a ProtocolError, not an allocation. Data payloads are streamed to a sink, never buffered.
 */
export class FrameDecoder {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private state: State = { kind: 'prefix' };
  private failed = false;

  constructor(private readonly handlers: FrameHandlers) {}

  /**
   * Throws ProtocolError on a malformed frame; after that the decoder refuses more input. `data` may
   * be overwritten once push returns (a reused read buffer): nothing keeps a view on it.
   */
  push(data: Buffer): void {
    if (this.failed) throw new ProtocolError('decoder already failed');
    try {
      this.consume(data);
    } catch (e) {
      this.failed = true;
      throw e;
    }
  }

  private consume(data: Buffer): void {
    let buf = data;
    while (buf.length > 0 || this.ready()) {
      if (this.state.kind === 'dataPayload') {
        const n = Math.min(buf.length, this.state.remaining);
        if (n > 0) this.state.sink.write(buf.subarray(0, n));
        buf = buf.subarray(n);
        this.state.remaining -= n;
        if (this.state.remaining === 0) {
          const sink = this.state.sink;
          this.state = { kind: 'prefix' };
          sink.end();
          continue;
        }
        return;
      }
      const need = this.need();
      // Take only what the current frame part needs; buffered bytes are bounded by need().
      const take = Math.min(buf.length, need - this.pendingBytes);
      if (take > 0) {
        this.pending.push(buf.subarray(0, take));
        this.pendingBytes += take;
        buf = buf.subarray(take);
      }
      if (this.pendingBytes < need) {
        // A length no frame can have is refused on the 4 length bytes alone, without waiting for a type byte.
        if (this.state.kind === 'prefix' && this.pendingBytes === 4) checkFrameLength(Buffer.concat(this.pending, 4).readUInt32BE(0));
        // The input may be a reused read buffer (see connectPeer): keep a copy of what waits for more.
        const last = this.pending.length - 1;
        if (take > 0) this.pending[last] = Buffer.from(this.pending[last]);
        return;
      }
      const part = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingBytes);
      this.pending = [];
      this.pendingBytes = 0;
      this.advance(part);
    }
  }

  /** A state that needs zero more bytes (an empty data payload) must still advance. */
  private ready(): boolean {
    return (this.state.kind === 'dataPayload' && this.state.remaining === 0) || (this.state.kind !== 'dataPayload' && this.state.kind !== 'prefix' && this.need() === 0);
  }

  private need(): number {
    switch (this.state.kind) {
      case 'prefix':
        return 5;
      case 'control':
        return this.state.length;
      case 'dataHeader':
        return this.state.headerLength;
      default:
        return 0;
    }
  }

  private advance(part: Buffer): void {
    const s = this.state;
    if (s.kind === 'prefix') {
      const length = part.readUInt32BE(0);
      const type = part.readUInt8(4);
      if (length < 1) throw new ProtocolError('frame length 0');
      const bodyLength = length - 1;
      const headerLength = DATA_HEADER_LENGTH[type as MsgType];
      if (headerLength !== undefined) {
        const payloadLength = bodyLength - headerLength;
        if (payloadLength < 0) throw new ProtocolError(`data frame type ${type} shorter than its ${headerLength}-byte header`);
        if (payloadLength > MAX_DATA_PAYLOAD) throw new ProtocolError(`data frame payload of ${payloadLength} bytes exceeds the limit of ${MAX_DATA_PAYLOAD}`);
        this.state = { kind: 'dataHeader', type: type as MsgType.PIECE | MsgType.STORE, headerLength, payloadLength };
      } else if (type in ControlSchemas) {
        if (bodyLength > MAX_CONTROL_BODY) throw new ProtocolError(`control frame of ${bodyLength} bytes exceeds the limit of ${MAX_CONTROL_BODY}`);
        this.state = { kind: 'control', type: type as ControlType, length: bodyLength };
      } else {
        throw new ProtocolError(`unknown message type 0x${type.toString(16).padStart(2, '0')}`);
      }
      return;
    }
    if (s.kind === 'control') {
      this.state = { kind: 'prefix' };
      this.handlers.control(decodeControl(s.type, part));
      return;
    }
    if (s.kind === 'dataHeader') {
      const sink = this.handlers.dataStart(s.type, part, s.payloadLength);
      this.state = { kind: 'dataPayload', sink, remaining: s.payloadLength };
    }
  }
}

/** The longest frame of any type: a data frame with the largest header and a whole chunk. */
export const MAX_FRAME_LENGTH = Math.max(1 + MAX_CONTROL_BODY, 1 + Math.max(...(Object.values(DATA_HEADER_LENGTH) as number[])) + MAX_DATA_PAYLOAD);

/** A frame length that no type allows: 0, or past MAX_FRAME_LENGTH. The type-specific limits are checked with the type byte. */
function checkFrameLength(length: number): void {
  if (length < 1) throw new ProtocolError('frame length 0');
  if (length > MAX_FRAME_LENGTH) throw new ProtocolError(`frame length ${length} exceeds the longest frame of any type (${MAX_FRAME_LENGTH} bytes)`);
}

export function decodeControl(type: ControlType, body: Buffer): ControlMessage {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    throw new ProtocolError(`message type 0x${type.toString(16)} body is not JSON`);
  }
  const r = ControlSchemas[type].safeParse(json);
  if (!r.success) throw new ProtocolError(`malformed ${MsgType[type]}: ${describeZodError(r.error)}`);
  return { type, body: r.data } as ControlMessage;
}
