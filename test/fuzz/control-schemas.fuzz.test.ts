import fc from 'fast-check';
import { ControlSchemas, decodeControl, encodeControl, MsgType, ProtocolError, type ControlType } from '@swarmshare/common';
import { FUZZ } from './corpus';

const TYPES = Object.keys(ControlSchemas).map(Number) as ControlType[];

/** JSON a hostile peer might send: anything, or an object shaped like a message with hostile values. */
const hostileBody = fc.oneof(
  fc.jsonValue(),
  fc.dictionary(
    fc.constantFrom('id', 'fileId', 'index', 'nodeId', 'version', 'listen', 'features', 'manifest', 'reservation', 'bytes', 'chunks', 'indexes', 'queryId', 'origin', 'hops', 'code', 'message', 'fatal', 'bitfield', 'chunkCount', '__proto__', 'constructor'),
    fc.oneof(fc.jsonValue(), fc.constantFrom(-1, 2 ** 53, 1e308, 'ab'.repeat(32), '', 'x'.repeat(5000))),
  ),
);

describe('control schemas under random input (property-based fuzzing, fast-check)', () => {
  test('any JSON body for any control type: a message its schema accepts, or a ProtocolError', () => {
    fc.assert(
      fc.property(fc.constantFrom(...TYPES), hostileBody, (type, body) => {
        let msg;
        try {
          msg = decodeControl(type, Buffer.from(JSON.stringify(body) ?? 'null'));
        } catch (e) {
          expect(e).toBeInstanceOf(ProtocolError);
          return;
        }
        expect(msg.type).toBe(type);
        expect(ControlSchemas[type].safeParse(msg.body).success).toBe(true);
      }),
      FUZZ,
    );
  });

  test('any bytes as a control body: a message or a ProtocolError', () => {
    fc.assert(
      fc.property(fc.constantFrom(...TYPES), fc.uint8Array({ maxLength: 512 }), (type, bytes) => {
        try {
          decodeControl(type, Buffer.from(bytes));
        } catch (e) {
          expect(e).toBeInstanceOf(ProtocolError);
        }
      }),
      FUZZ,
    );
  });

  test('what a valid message encodes to decodes back to it', () => {
    const fileId = 'cd'.repeat(32);
    fc.assert(
      fc.property(fc.nat({ max: 0xffffffff }), fc.nat({ max: 2 ** 40 }), fc.nat({ max: 2 ** 20 }), (id, bytes, chunks) => {
        const body = { id, fileId, bytes, chunks };
        expect(decodeControl(MsgType.RECEIPT, encodeControl(MsgType.RECEIPT, body).subarray(5))).toEqual({ type: MsgType.RECEIPT, body });
      }),
      FUZZ,
    );
  });
});
