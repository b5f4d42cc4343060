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
