import fc from 'fast-check';
import { encodeControl, encodeDataPrefix, FrameDecoder, MAX_DATA_PAYLOAD, MsgType, ProtocolError, type ControlMessage } from '@swarmshare/common';
import { corpusFrames, FUZZ } from './corpus';

const FILE_ID = 'ab'.repeat(32);

/** What the decoder made of a byte stream: the frames it delivered, in order, and how it ended. */
function decodeAll(chunks: Buffer[]): { frames: string[]; error?: unknown } {
  const frames: string[] = [];
  const decoder = new FrameDecoder({
    control: (m: ControlMessage) => void frames.push(`control:${m.type}:${JSON.stringify(m.body)}`),
    dataStart: (type, header, length) => {
      // The decoder checks limits before a payload starts: a sink is never asked for more.
      expect(length).toBeLessThanOrEqual(MAX_DATA_PAYLOAD);
      const parts: Buffer[] = [];
      return { write: (s) => void parts.push(Buffer.from(s)), end: () => void frames.push(`data:${type}:${header.toString('hex')}:${Buffer.concat(parts).toString('hex')}`) };
    },
  });
  try {
    for (const c of chunks) decoder.push(c);
    return { frames };
  } catch (error) {
    return { frames, error };
  }
}

/** Cut `stream` at the given points (any order, any count). */
function cut(stream: Buffer, at: number[]): Buffer[] {
  const points = [...new Set(at.map((p) => p % (stream.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of [...points, stream.length]) {
    out.push(stream.subarray(from, p));
    from = p;
  }
  return out;
}

/** Frames a well-behaved peer sends: controls of several types and data frames of random payloads. */
const validFrame = fc.oneof(
  fc.record({ id: fc.nat({ max: 0xffffffff }), index: fc.nat({ max: 1_000_000 }) }).map(({ id, index }) => encodeControl(MsgType.REQUEST, { id, fileId: FILE_ID, index })),
  fc.nat({ max: 0xffffffff }).map((id) => encodeControl(MsgType.OK, { id })),
  fc.record({ code: fc.string({ maxLength: 32 }), message: fc.string({ maxLength: 200 }) }).map((e) => encodeControl(MsgType.ERROR, { ...e, fatal: false })),
  fc.array(fc.nat({ max: 1023 }), { minLength: 1, maxLength: 50 }).map((indexes) => encodeControl(MsgType.HAVE_UPDATE, { fileId: FILE_ID, indexes })),
  fc.record({ id: fc.nat({ max: 0xffffffff }), payload: fc.uint8Array({ maxLength: 3000 }) }).map(({ id, payload }) =>
    Buffer.concat([encodeDataPrefix(MsgType.PIECE, { id }, payload.length), Buffer.from(payload)]),
  ),
);

describe('FrameDecoder under random input (property-based fuzzing, fast-check)', () => {
  test('a valid stream decodes to the same frames however the socket splits it', () => {
    fc.assert(
      fc.property(fc.array(validFrame, { minLength: 1, maxLength: 12 }), fc.array(fc.nat(), { maxLength: 20 }), (frames, at) => {
        const stream = Buffer.concat(frames);
        const whole = decodeAll([stream]);
        expect(whole.error).toBeUndefined();
        expect(whole.frames).toHaveLength(frames.length);
        expect(decodeAll(cut(stream, at))).toEqual(whole);
      }),
      FUZZ,
    );
  });

  test('arbitrary bytes, split anywhere: frames or a ProtocolError, never another exception', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), fc.array(fc.nat(), { maxLength: 10 }), (bytes, at) => {
        const { error } = decodeAll(cut(Buffer.from(bytes), at));
        if (error !== undefined) expect(error).toBeInstanceOf(ProtocolError);
      }),
      { ...FUZZ, examples: corpusFrames().map((f) => [new Uint8Array(f), []] as [Uint8Array, number[]]) },
    );
  });

  test('a valid stream with bytes flipped: the frames before the damage survive, then frames or a ProtocolError', () => {
    fc.assert(
      fc.property(
        fc.array(validFrame, { minLength: 1, maxLength: 8 }),
        fc.array(fc.record({ at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }), { minLength: 1, maxLength: 4 }),
        (frames, flips) => {
          const stream = Buffer.concat(frames);
          for (const f of flips) stream[f.at % stream.length] ^= f.xor;
          const { error } = decodeAll([stream]);
          if (error !== undefined) expect(error).toBeInstanceOf(ProtocolError);
        },
      ),
      FUZZ,
    );
  });

  test('after a ProtocolError the decoder refuses all further input', () => {
    const decoder = new FrameDecoder({ control: () => undefined, dataStart: () => ({ write: () => undefined, end: () => undefined }) });
    expect(() => decoder.push(Buffer.from([0, 0, 0, 0, 1]))).toThrow(ProtocolError);
    expect(() => decoder.push(encodeControl(MsgType.OK, { id: 1 }))).toThrow(/already failed/);
  });
});
