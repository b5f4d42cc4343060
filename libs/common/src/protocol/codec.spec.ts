import { FrameDecoder, MAX_FRAME_LENGTH, ProtocolError, encodeControl, encodeDataPrefix, type DataSink } from './codec';
import { MAX_CONTROL_BODY, MAX_DATA_PAYLOAD, MsgType, type ControlMessage, decodeDataHeader } from './messages';

const FILE_ID = 'ab'.repeat(32);

function collect() {
  const controls: ControlMessage[] = [];
  const data: Array<{ type: number; header: Buffer; length: number; bytes: Buffer[]; ended: boolean }> = [];
  const decoder = new FrameDecoder({
    control: (m) => controls.push(m),
    dataStart: (type, header, length): DataSink => {
      const entry = { type, header: Buffer.from(header), length, bytes: [] as Buffer[], ended: false };
      data.push(entry);
      return { write: (s) => entry.bytes.push(Buffer.from(s)), end: () => (entry.ended = true) };
    },
  });
  return { decoder, controls, data };
}

function prefix(length: number, type: number): Buffer {
  const b = Buffer.alloc(5);
  b.writeUInt32BE(length, 0);
  b.writeUInt8(type, 4);
  return b;
}

describe('peer protocol codec', () => {
  it('round-trips a control frame fed one byte at a time', () => {
    const { decoder, controls } = collect();
    const frame = encodeControl(MsgType.HELLO, { version: 1, nodeId: 'a', listen: '127.0.0.1:7881', features: [] });
    for (const byte of frame) decoder.push(Buffer.from([byte]));
    expect(controls).toEqual([{ type: MsgType.HELLO, body: { version: 1, nodeId: 'a', listen: '127.0.0.1:7881', features: [] } }]);
  });

  it('decodes several frames arriving in one buffer, including data frames', () => {
    const { decoder, controls, data } = collect();
    const payload = Buffer.from('hello chunk bytes');
    const buf = Buffer.concat([
      encodeControl(MsgType.REQUEST, { id: 7, fileId: FILE_ID, index: 3 }),
      encodeDataPrefix(MsgType.PIECE, { id: 7 }, payload.length),
      payload,
      encodeDataPrefix(MsgType.STORE, { id: 9, index: 4, fileId: FILE_ID }, 0),
      encodeControl(MsgType.OK, { id: 9 }),
    ]);
    decoder.push(buf);
    expect(controls.map((c) => c.type)).toEqual([MsgType.REQUEST, MsgType.OK]);
    expect(data).toHaveLength(2);
    expect(decodeDataHeader(MsgType.PIECE, data[0].header)).toEqual({ id: 7 });
    expect(Buffer.concat(data[0].bytes).toString()).toBe('hello chunk bytes');
    expect(data[0].ended).toBe(true);
    expect(decodeDataHeader(MsgType.STORE, data[1].header)).toEqual({ id: 9, index: 4, fileId: FILE_ID });
    expect(data[1].length).toBe(0);
    expect(data[1].ended).toBe(true);
  });

  it('streams a data payload split across pushes without buffering it', () => {
    const { decoder, data } = collect();
    const payload = Buffer.alloc(100_000, 0x5a);
    const all = Buffer.concat([encodeDataPrefix(MsgType.PIECE, { id: 1 }, payload.length), payload]);
    for (let i = 0; i < all.length; i += 4096) decoder.push(all.subarray(i, i + 4096));
    expect(data[0].bytes.length).toBeGreaterThan(1);
    expect(Buffer.concat(data[0].bytes).equals(payload)).toBe(true);
    expect(data[0].ended).toBe(true);
  });

  it('decodes a stream fed through one reused read buffer, overwritten after every push', () => {
    const { decoder, controls, data } = collect();
    const payload = Buffer.alloc(3000, 0x33);
    const stream = Buffer.concat([
      encodeControl(MsgType.REQUEST, { id: 7, fileId: FILE_ID, index: 3 }),
      encodeDataPrefix(MsgType.STORE, { id: 9, index: 4, fileId: FILE_ID }, payload.length),
      payload,
      encodeControl(MsgType.OK, { id: 9 }),
    ]);
    // Odd read sizes split the prefix, the JSON bodies and the data header across reads.
    const reused = Buffer.alloc(7);
    for (let i = 0; i < stream.length; i += 7) {
      const n = stream.copy(reused, 0, i, i + 7);
      decoder.push(reused.subarray(0, n));
      reused.fill(0xff); // what the next read would do to anything still pointing into it
    }
    expect(controls).toEqual([
      { type: MsgType.REQUEST, body: { id: 7, fileId: FILE_ID, index: 3 } },
      { type: MsgType.OK, body: { id: 9 } },
    ]);
    expect(decodeDataHeader(MsgType.STORE, data[0].header)).toEqual({ id: 9, index: 4, fileId: FILE_ID });
    expect(Buffer.concat(data[0].bytes).equals(payload)).toBe(true);
  });

  it('rejects a control frame claiming more than the limit before reading its body', () => {
    const { decoder } = collect();
    expect(() => decoder.push(prefix(0xffffffff, MsgType.HELLO))).toThrow(ProtocolError);
    expect(() => decoder.push(Buffer.from([1]))).toThrow('decoder already failed');
  });

  it('rejects an oversized data frame from its prefix alone', () => {
    const { decoder } = collect();
    expect(() => decoder.push(prefix(1 + 4 + MAX_DATA_PAYLOAD + 1, MsgType.PIECE))).toThrow(/exceeds the limit/);
  });

  it('rejects a length-0 or longer-than-any-frame length on its 4 bytes alone, before a type byte arrives', () => {
    expect(() => collect().decoder.push(Buffer.from([0, 0, 0, 0]))).toThrow('frame length 0');
    expect(() => collect().decoder.push(Buffer.from([0xff, 0xff, 0xff, 0xff]))).toThrow(`frame length 4294967295 exceeds the longest frame of any type (${MAX_FRAME_LENGTH} bytes)`);
    // Byte by byte, too.
    const { decoder } = collect();
    for (const b of [0, 0, 0]) decoder.push(Buffer.from([b]));
    expect(() => decoder.push(Buffer.from([0]))).toThrow('frame length 0');
    // The longest frame's length waits for its type byte.
    const ok = Buffer.alloc(4);
    ok.writeUInt32BE(MAX_FRAME_LENGTH);
    expect(() => collect().decoder.push(ok)).not.toThrow();
  });

  it('accepts a control body exactly at the limit boundary check', () => {
    const { decoder } = collect();
    expect(() => decoder.push(prefix(1 + MAX_CONTROL_BODY + 1, MsgType.HAVE))).toThrow(/exceeds the limit/);
  });

  it('rejects unknown types, zero length, short data frames, bad JSON and schema violations', () => {
    expect(() => collect().decoder.push(prefix(1, 0x7f))).toThrow(/unknown message type 0x7f/);
    expect(() => collect().decoder.push(prefix(0, MsgType.HELLO))).toThrow(/frame length 0/);
    expect(() => collect().decoder.push(prefix(3, MsgType.PIECE))).toThrow(/shorter than its 4-byte header/);
    const badJson = Buffer.from('{nope');
    expect(() => collect().decoder.push(Buffer.concat([prefix(1 + badJson.length, MsgType.HELLO), badJson]))).toThrow(/not JSON/);
    const wrong = Buffer.from(JSON.stringify({ id: -1, fileId: 'x', index: 0 }));
    expect(() => collect().decoder.push(Buffer.concat([prefix(1 + wrong.length, MsgType.REQUEST), wrong]))).toThrow(/malformed REQUEST/);
  });

  it('refuses to encode an oversized control body', () => {
    expect(() => encodeControl(MsgType.ERROR, { code: 'X', message: 'm'.repeat(MAX_CONTROL_BODY + 1), fatal: false })).toThrow(ProtocolError);
  });
});
