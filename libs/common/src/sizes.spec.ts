import { formatBytes, parseSize } from './sizes';

describe('sizes', () => {
  it('parses plain and unit sizes', () => {
    expect(parseSize('1048576')).toBe(1048576);
    expect(parseSize('1MiB')).toBe(1048576);
    expect(parseSize('64 KiB')).toBe(65536);
    expect(parseSize('2GB')).toBe(2e9);
    expect(parseSize('1.5k')).toBe(1536);
  });
  it('rejects nonsense', () => {
    expect(() => parseSize('-1')).toThrow(/not a size/);
    expect(() => parseSize('12 parsecs')).toThrow(/not a size/);
  });
  it('formats', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(256 * 1024 * 1024)).toBe('256 MiB');
  });
});
