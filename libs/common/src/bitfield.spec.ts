import { Bitfield } from './bitfield';

describe('Bitfield', () => {
  it('sets and reads bits MSB first', () => {
    const b = new Bitfield(10);
    b.set(0);
    b.set(9);
    expect(b.bytes).toEqual(Buffer.from([0x80, 0x40]));
    expect(b.indexes()).toEqual([0, 9]);
    expect(b.count()).toBe(2);
    expect(b.isComplete()).toBe(false);
  });

  it('round-trips through base64 and detects completeness', () => {
    const b = Bitfield.full(13);
    const c = Bitfield.fromBase64(13, b.toBase64());
    expect(c.isComplete()).toBe(true);
    expect(c.count()).toBe(13);
  });

  it('rejects out-of-range bits, wrong byte counts and spare bits set', () => {
    expect(() => new Bitfield(8).get(8)).toThrow(RangeError);
    expect(() => new Bitfield(8).set(-1)).toThrow(RangeError);
    expect(() => new Bitfield(9, Buffer.alloc(1))).toThrow(/needs 2 bytes/);
    expect(() => new Bitfield(9, Buffer.from([0, 0x01]))).toThrow(/past its length/);
  });

  it('handles zero length', () => {
    const b = new Bitfield(0);
    expect(b.bytes.length).toBe(0);
    expect(b.isComplete()).toBe(true);
  });
});
