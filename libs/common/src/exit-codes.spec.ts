import { ErrorCodes, EXIT_CODES, exitCodeFor } from './errors';

describe('exitCodeFor', () => {
  it('maps each class of error to its documented exit status', () => {
    expect(exitCodeFor('BAD_REQUEST')).toBe(EXIT_CODES.usage);
    expect(exitCodeFor('NOT_FOUND')).toBe(EXIT_CODES.notFound);
    expect(exitCodeFor('UNAVAILABLE')).toBe(EXIT_CODES.unavailable);
    expect(exitCodeFor('TIMEOUT')).toBe(EXIT_CODES.unavailable);
    expect(exitCodeFor('NO_SPACE')).toBe(EXIT_CODES.noSpace);
    expect(exitCodeFor('HASH_MISMATCH')).toBe(EXIT_CODES.integrity);
    expect(exitCodeFor('INTERNAL')).toBe(EXIT_CODES.other);
    expect(exitCodeFor(undefined)).toBe(EXIT_CODES.other);
  });

  it('gives every error code a status from 1 to 6, and only NO_SPACE gets 5', () => {
    for (const code of ErrorCodes) expect(exitCodeFor(code)).toBeGreaterThanOrEqual(1);
    expect(ErrorCodes.filter((c) => exitCodeFor(c) === EXIT_CODES.noSpace)).toEqual(['NO_SPACE']);
    expect(Math.max(...Object.values(EXIT_CODES))).toBe(6);
  });
});
