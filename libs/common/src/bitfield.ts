/** A fixed-length bitfield, MSB first within each byte (BitTorrent order): bit i set = chunk i present. */
export class Bitfield {
  readonly bytes: Buffer;

  constructor(
    readonly length: number,
    bytes?: Uint8Array,
  ) {
    const n = Math.ceil(length / 8);
    if (bytes && bytes.length !== n) throw new RangeError(`bitfield for ${length} bits needs ${n} bytes, got ${bytes.length}`);
    this.bytes = bytes ? Buffer.from(bytes) : Buffer.alloc(n);
    // Spare bits past the end must be zero, or two equal bitfields could differ on the wire.
    if (bytes && length % 8 !== 0 && (this.bytes[n - 1] & (0xff >> length % 8)) !== 0) {
      throw new RangeError('bitfield has bits set past its length');
    }
  }

  static fromBase64(length: number, b64: string): Bitfield {
    return new Bitfield(length, Buffer.from(b64, 'base64'));
  }

  static full(length: number): Bitfield {
    const b = new Bitfield(length);
    for (let i = 0; i < length; i++) b.set(i);
    return b;
  }

  private check(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.length) throw new RangeError(`bit ${i} out of range 0..${this.length - 1}`);
  }

  get(i: number): boolean {
    this.check(i);
    return (this.bytes[i >> 3] & (0x80 >> (i & 7))) !== 0;
  }

  set(i: number, value = true): void {
    this.check(i);
    if (value) this.bytes[i >> 3] |= 0x80 >> (i & 7);
    else this.bytes[i >> 3] &= ~(0x80 >> (i & 7));
  }

  count(): number {
    let c = 0;
    for (let i = 0; i < this.length; i++) if (this.get(i)) c++;
    return c;
  }

  isComplete(): boolean {
    return this.count() === this.length;
  }

  /** Indexes of the set bits. */
  indexes(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.length; i++) if (this.get(i)) out.push(i);
    return out;
  }

  toBase64(): string {
    return this.bytes.toString('base64');
  }
}
