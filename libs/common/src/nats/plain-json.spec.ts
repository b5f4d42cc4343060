import { SwarmError } from '../errors';
import { InvalidJson } from '../validate';
import { PlainJsonDeserializer, PlainJsonSerializer } from './plain-json';

describe('plain JSON NATS (de)serializer', () => {
  const d = new PlainJsonDeserializer();
  const s = new PlainJsonSerializer();
  const body = (x: { data: Uint8Array }) => JSON.parse(Buffer.from(x.data).toString());

  it('turns a plain request into a Nest packet with an id, and a message without reply into an event', () => {
    const req = d.deserialize(Buffer.from('{"a":1}'), { channel: 'swarm.x', replyTo: '_INBOX.1' });
    expect(req).toMatchObject({ pattern: 'swarm.x', data: { a: 1 } });
    expect((req as { id?: string }).id).toBeDefined();
    const evt = d.deserialize(Buffer.from('{"a":1}'), { channel: 'swarm.x' });
    expect((evt as { id?: string }).id).toBeUndefined();
  });

  it('marks a non-JSON body so validation can reject it clearly', () => {
    const req = d.deserialize(Buffer.from('not json'), { channel: 'c', replyTo: 'r' });
    expect(req.data).toBeInstanceOf(InvalidJson);
    expect(d.deserialize(Buffer.alloc(0), { channel: 'c', replyTo: 'r' }).data).toEqual({});
  });

  it('wraps results and errors in the ok envelope', () => {
    expect(body(s.serialize({ id: '1', response: { x: 2 } }))).toEqual({ ok: true, result: { x: 2 } });
    expect(body(s.serialize({ id: '1', response: undefined, isDisposed: true }))).toEqual({ ok: true, result: null });
    expect(body(s.serialize({ id: '1', err: new SwarmError('NOT_FOUND', 'no such file') }))).toEqual({ ok: false, error: { code: 'NOT_FOUND', message: 'no such file' } });
    expect(body(s.serialize({ id: '1', err: new Error('boom') }))).toEqual({ ok: false, error: { code: 'INTERNAL', message: 'boom' } });
  });
});
