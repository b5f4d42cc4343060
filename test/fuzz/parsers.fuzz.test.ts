import fc from 'fast-check';
import { formatBytes, parseAllocation, parseDuration, parseSize, SwarmError } from '@swarmshare/common';
import { PlainJsonDeserializer } from '@swarmshare/common/nats/plain-json';
import { InvalidJson } from '@swarmshare/common/validate';
import { FUZZ } from './corpus';

/** Strings that look like what people type for sizes, durations and allocations, and noise. */
const typed = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.stringMatching(/^[0-9. ]{0,12}[a-zA-Z]{0,4}$/),
  fc.stringMatching(/^([a-z0-9-]{0,6}=[0-9a-zA-Z.]{0,8},?){0,4}$/),
  fc.stringMatching(/^([0-9]{0,4}[smhdw]){0,4}$/),
);

describe('size, duration and allocation parsers under random input (property-based fuzzing, fast-check)', () => {
  test('parseSize: a safe non-negative integer, or an Error that says how to write a size', () => {
    fc.assert(
      fc.property(typed, (text) => {
        try {
          const n = parseSize(text);
          expect(Number.isSafeInteger(n) && n >= 0).toBe(true);
        } catch (e) {
          expect((e as Error).message).toMatch(/is not a size|too large/);
        }
      }),
      FUZZ,
    );
  });

  test('parseSize reads back what formatBytes writes, within its rounding (one decimal: at most 5%)', () => {
    fc.assert(
      fc.property(fc.nat({ max: 2 ** 45 }), (n) => {
        const back = parseSize(formatBytes(n).replace(/\s+/g, ''));
        expect(Math.abs(back - n)).toBeLessThanOrEqual(Math.max(1, n * 0.05));
      }),
      FUZZ,
    );
  });

  test('parseDuration: a safe integer of ms (>= 0), or an Error', () => {
    fc.assert(
      fc.property(typed, (text) => {
        try {
          const ms = parseDuration(text);
          expect(Number.isSafeInteger(ms) && ms >= 0).toBe(true);
        } catch (e) {
          expect(e).toBeInstanceOf(Error);
          expect((e as Error).message.length).toBeGreaterThan(0);
        }
      }),
      FUZZ,
    );
  });

  test('parseAllocation: entries with node ids and sizes, or a BAD_REQUEST that names the entry', () => {
    fc.assert(
      fc.property(typed, (spec) => {
        try {
          for (const e of parseAllocation(spec)) expect(e.bytes === 'free' || (Number.isSafeInteger(e.bytes) && e.bytes >= 0)).toBe(true);
        } catch (e) {
          expect(e).toBeInstanceOf(SwarmError);
          expect((e as SwarmError).code).toBe('BAD_REQUEST');
        }
      }),
      FUZZ,
    );
  });
});

describe('the plain-JSON NATS deserializer under random input (property-based fuzzing, fast-check)', () => {
  test('any bytes: parsed JSON, or InvalidJson for the handler to refuse; a request only with a reply subject', () => {
    const d = new PlainJsonDeserializer();
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.jsonValue().map((v) => new Uint8Array(Buffer.from(JSON.stringify(v))))), fc.option(fc.string({ minLength: 1, maxLength: 20 })), (bytes, replyTo) => {
        const packet = d.deserialize(bytes, { channel: 'swarm.x', ...(replyTo ? { replyTo } : {}) });
        expect(packet.pattern).toBe('swarm.x');
        expect('id' in packet).toBe(Boolean(replyTo));
        if (packet.data instanceof InvalidJson) expect(() => JSON.parse(Buffer.from(bytes).toString('utf8'))).toThrow();
        else if (bytes.length > 0) expect(packet.data).toEqual(JSON.parse(Buffer.from(bytes).toString('utf8')));
      }),
      FUZZ,
    );
  });
});
