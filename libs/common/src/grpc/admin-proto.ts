import { join } from 'node:path';

/** The admin API's contract (the same depth from src/grpc and dist/grpc). */
export const ADMIN_PROTO_PATH = join(__dirname, '..', '..', 'proto', 'swarmshare', 'admin', 'v1', 'admin.proto');
export const ADMIN_PACKAGE = 'swarmshare.admin.v1';
export const ADMIN_SERVICE = 'Admin';
/** Full name, as reflection and grpc.health.v1 name it. */
export const ADMIN_SERVICE_FULL_NAME = `${ADMIN_PACKAGE}.${ADMIN_SERVICE}`;

/**
 * proto-loader options every side uses: 64-bit sizes as JS numbers (files stay far below 2^53 bytes),
 * field names as in the .proto (snake_case, what grpcurl prints), defaults filled in.
 */
export const ADMIN_PROTO_LOADER_OPTIONS = { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true } as const;
