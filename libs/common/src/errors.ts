/**
 * One error type crosses every boundary (NATS replies, peer protocol ERROR frames, CLI output):
 * a stable machine code plus a sentence that tells the user what to do.
 */
export const ErrorCodes = [
  'BAD_REQUEST',
  'NOT_FOUND',
  'OUT_OF_RANGE',
  'BAD_LENGTH',
  'BAD_NAME',
  'HASH_MISMATCH',
  'LOCKED',
  'LEASE_UNKNOWN',
  'LEASE_EXPIRED',
  'LEASE_CLOSED',
  'NO_SPACE',
  'CONFLICT',
  'UNAVAILABLE',
  'TIMEOUT',
  'PROTOCOL',
  'TOO_LARGE',
  'CANCELLED',
  'INTERNAL',
  /** Not now, from this holder: fetch the chunk from other peers (super-seeding; feature "try-peers"). */
  'TRY_PEERS',
] as const;
export type ErrorCode = (typeof ErrorCodes)[number];

/**
 * The CLI's exit status for each class of error, so a script can act on it (docs/cli.md): retry
 * what may pass later, fix the input, free space, or stop trusting a source.
 */
export const EXIT_CODES = {
  /** Anything else: a bug or an unexpected failure. */
  other: 1,
  /** The command or its input is wrong: fix it and run again. */
  usage: 2,
  /** No such file, node or chunk. */
  notFound: 3,
  /** A service, node or holder is down or did not answer in time: retrying may help. */
  unavailable: 4,
  /** Not enough space on a node. */
  noSpace: 5,
  /** Data failed verification. */
  integrity: 6,
} as const;

export function exitCodeFor(code: ErrorCode | undefined): number {
  switch (code) {
    case 'BAD_REQUEST':
    case 'OUT_OF_RANGE':
    case 'BAD_NAME':
    case 'TOO_LARGE':
    case 'CONFLICT':
      return EXIT_CODES.usage;
    case 'NOT_FOUND':
      return EXIT_CODES.notFound;
    case 'UNAVAILABLE':
    case 'TIMEOUT':
    case 'LOCKED':
    case 'CANCELLED':
    case 'LEASE_EXPIRED':
      return EXIT_CODES.unavailable;
    case 'NO_SPACE':
      return EXIT_CODES.noSpace;
    case 'HASH_MISMATCH':
    case 'BAD_LENGTH':
      return EXIT_CODES.integrity;
    default:
      return EXIT_CODES.other;
  }
}

export interface ErrorBody {
  code: ErrorCode;
  message: string;
}

export class SwarmError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'SwarmError';
  }

  toJSON(): ErrorBody {
    return { code: this.code, message: this.message };
  }

  static from(body: ErrorBody): SwarmError {
    return new SwarmError(body.code, body.message);
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ErrorCodes as readonly string[]).includes(value);
}

/** Anything thrown, as a reply body; unknown errors keep their message but are marked INTERNAL. */
export function toErrorBody(err: unknown): ErrorBody {
  if (err instanceof SwarmError) return err.toJSON();
  if (err && typeof err === 'object' && 'code' in err && isErrorCode((err as { code: unknown }).code)) {
    return { code: (err as ErrorBody).code, message: String((err as ErrorBody).message ?? '') };
  }
  return { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) };
}
