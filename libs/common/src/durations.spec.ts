import { formatDuration, MAX_TTL_MS, parseDuration, parseTtl } from './durations';

describe('durations', () => {
  it.each([
    ['90s', 90_000],
    ['30m', 1_800_000],
    ['24h', 86_400_000],
    ['7d', 604_800_000],
    ['2w', 1_209_600_000],
    ['1h30m', 5_400_000],
    [' 1.5H ', 5_400_000],
  ])('parses %s', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(['', '24', 'h', '24x', 'tomorrow', '-1h', '1h 30m', '1h30'])('refuses %j with what to write', (text) => {
    expect(() => parseDuration(text)).toThrow(/is not a duration; write a number with a unit: s, m, h, d or w/);
  });

  it('bounds a TTL to 1s .. 3650d', () => {
    expect(parseTtl('1s')).toBe(1000);
    expect(parseTtl('3650d')).toBe(MAX_TTL_MS);
    expect(() => parseTtl('0s')).toThrow(/out of range: a file's TTL is from 1s to 3650d/);
    expect(() => parseTtl('3651d')).toThrow(/out of range/);
  });

  it('formats the largest two units', () => {
    expect(formatDuration(42_000)).toBe('42s');
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(86_340_000)).toBe('23h 59m');
    expect(formatDuration(532_800_000)).toBe('6d 4h');
  });
});
