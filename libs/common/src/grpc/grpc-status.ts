import { Metadata, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { type ErrorCode, toErrorBody } from '../errors';

/**
 * The gRPC status of each error code the NATS API answers with. A Record, so a new ErrorCode does
 * not compile until it is given a status here.
 */
export const GRPC_STATUS_OF: Record<ErrorCode, GrpcStatus> = {
  BAD_REQUEST: GrpcStatus.INVALID_ARGUMENT,
  BAD_LENGTH: GrpcStatus.INVALID_ARGUMENT,
  BAD_NAME: GrpcStatus.INVALID_ARGUMENT,
  NOT_FOUND: GrpcStatus.NOT_FOUND,
  LEASE_UNKNOWN: GrpcStatus.NOT_FOUND,
  OUT_OF_RANGE: GrpcStatus.OUT_OF_RANGE,
  HASH_MISMATCH: GrpcStatus.DATA_LOSS,
  LOCKED: GrpcStatus.ABORTED,
  LEASE_EXPIRED: GrpcStatus.FAILED_PRECONDITION,
  LEASE_CLOSED: GrpcStatus.FAILED_PRECONDITION,
  NO_SPACE: GrpcStatus.RESOURCE_EXHAUSTED,
  TOO_LARGE: GrpcStatus.RESOURCE_EXHAUSTED,
  CONFLICT: GrpcStatus.ALREADY_EXISTS,
  UNAVAILABLE: GrpcStatus.UNAVAILABLE,
  TRY_PEERS: GrpcStatus.UNAVAILABLE,
  TIMEOUT: GrpcStatus.DEADLINE_EXCEEDED,
  PROTOCOL: GrpcStatus.INTERNAL,
  CANCELLED: GrpcStatus.CANCELLED,
  INTERNAL: GrpcStatus.INTERNAL,
};

/** Trailer that keeps the swarm's own error code next to the gRPC status. */
export const SWARM_ERROR_CODE_TRAILER = 'swarm-error-code';

/** Anything thrown, as the error a gRPC handler hands to its callback or stream. */
export function toGrpcError(err: unknown): Partial<ServiceError> & { code: GrpcStatus; details: string } {
  if (isGrpcError(err)) return err;
  const body = toErrorBody(err);
  const metadata = new Metadata();
  metadata.set(SWARM_ERROR_CODE_TRAILER, body.code);
  return { code: GRPC_STATUS_OF[body.code], details: body.message, message: body.message, metadata };
}

/** An error that already carries a gRPC status (e.g. UNAUTHENTICATED from the token check). */
function isGrpcError(err: unknown): err is { code: GrpcStatus; details: string } {
  return !!err && typeof err === 'object' && typeof (err as { code?: unknown }).code === 'number' && typeof (err as { details?: unknown }).details === 'string';
}

/** An error that is already a gRPC status, for statuses no swarm error code maps to (UNAUTHENTICATED, UNIMPLEMENTED). */
export class GrpcStatusError extends Error {
  constructor(
    readonly code: GrpcStatus,
    readonly details: string,
  ) {
    super(details);
    this.name = 'GrpcStatusError';
  }
}
