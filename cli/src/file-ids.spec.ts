import { matchPrefix, parseIdOrPrefix } from './file-ids';

const A = `abcdef01${'0'.repeat(56)}`;
const B = `abcdef01${'1'.repeat(56)}`;
const C = `12345678${'2'.repeat(56)}`;
const files = [
  { fileId: A, name: 'a.bin' },
  { fileId: B, name: 'b.bin' },
  { fileId: C, name: 'c.bin' },
];

describe('short file ids', () => {
  it('takes a full id, or a prefix of at least 8 hex characters (any case)', () => {
    expect(parseIdOrPrefix(A)).toEqual({ full: A });
    expect(parseIdOrPrefix('ABCDEF01')).toEqual({ prefix: 'abcdef01' });
    expect(() => parseIdOrPrefix('abcdef0')).toThrow(
      '"abcdef0" is not a file id: a file id must be 64 lowercase hex characters, or a unique prefix of at least 8 of them (`swarmshare ls` lists the files)',
    );
    expect(() => parseIdOrPrefix('not-an-id')).toThrow(/^"not-an-id" is not a file id/);
  });

  it('resolves a unique prefix, says when none matches, and lists the candidates of an ambiguous one', () => {
    expect(matchPrefix('12345678', files)).toBe(C);
    expect(matchPrefix('abcdef010', files)).toBe(A);
    expect(() => matchPrefix('ffffffff', files)).toThrow('no file id starts with ffffffff: `swarmshare ls` lists the files');
    expect(() => matchPrefix('abcdef01', files)).toThrow(`file id abcdef01 is ambiguous: 2 files start with it; give more characters:\n  ID${' '.repeat(64)}NAME\n  ${A}  a.bin\n  ${B}  b.bin`);
  });
});
