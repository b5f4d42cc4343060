import { HealthImplementation, protoPath as HEALTH_PROTO_PATH } from 'grpc-health-check';
import { ReflectionService } from '@grpc/reflection';
import { readFileSync } from 'node:fs';
import { type Server, ServerCredentials } from '@grpc/grpc-js';
import { type GrpcOptions, Transport } from '@nestjs/microservices';
import { ADMIN_PACKAGE, ADMIN_PROTO_LOADER_OPTIONS, ADMIN_PROTO_PATH, ADMIN_SERVICE_FULL_NAME, type HealthRegistry, type Logger, type ObservabilityLifecycle, SwarmError } from '@swarmshare/common';

/** How often grpc.health.v1 is brought up to date with the tracker's readiness checks. */
const HEALTH_REFRESH_MS = 2000;

/**
 * The tracker's gRPC transport: the Admin service (Nest handlers in AdminController), plus the
 * standard grpc.health.v1 and server-reflection services added to the same server when Nest loads
 * the package definition (as Nest's docs wire @grpc/reflection). Health says SERVING exactly when
 * /readyz does (NATS and Redis answer); it and reflection need no token: they expose no data.
 */
/** The admin port's TLS files (GRPC_TLS_*); undefined = plaintext. */
export interface AdminTlsFiles {
  ca: string;
  cert: string;
  key: string;
}

/**
 * Mutual TLS: the client's certificate must chain to the swarm CA before any call is read; the
 * bearer token is still asked for on top (any node's certificate comes from the same CA, and a
 * node is not an operator). Without files, plaintext, with a warning.
 */
function adminCredentials(tls: AdminTlsFiles | undefined, logger: Logger): ServerCredentials {
  if (!tls) {
    logger.warn('GRPC_TLS=off: the gRPC admin API is served in plaintext; its bearer token and answers can be read on the way');
    return ServerCredentials.createInsecure();
  }
  const read = (setting: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (e) {
      throw new SwarmError('BAD_REQUEST', `${setting}=${path} cannot be read (${(e as Error).message}); see docs/operations.md "Admin API TLS"`);
    }
  };
  return ServerCredentials.createSsl(read('GRPC_TLS_CA', tls.ca), [{ cert_chain: read('GRPC_TLS_CERT', tls.cert), private_key: read('GRPC_TLS_KEY', tls.key) }], true);
}

export function adminGrpcOptions(host: string, port: number, tls: AdminTlsFiles | undefined, health: HealthRegistry, lifecycle: ObservabilityLifecycle, logger: Logger): GrpcOptions {
  const grpcHealth = new HealthImplementation({ '': 'NOT_SERVING', [ADMIN_SERVICE_FULL_NAME]: 'NOT_SERVING' });
  const refresh = async () => {
    const ready = (await health.report()).status === 'ready' ? 'SERVING' : 'NOT_SERVING';
    grpcHealth.setStatus('', ready);
    grpcHealth.setStatus(ADMIN_SERVICE_FULL_NAME, ready);
  };
  const timer = setInterval(() => void refresh().catch((e: unknown) => logger.warn({ err: (e as Error).message }, 'could not refresh gRPC health')), HEALTH_REFRESH_MS);
  timer.unref();
  void refresh().catch(() => undefined);
  lifecycle.onShutdown(() => {
    clearInterval(timer);
    grpcHealth.setStatus('', 'NOT_SERVING');
    grpcHealth.setStatus(ADMIN_SERVICE_FULL_NAME, 'NOT_SERVING');
  });
  return {
    transport: Transport.GRPC,
    options: {
      url: `${host.includes(':') ? `[${host}]` : host}:${port}`,
      credentials: adminCredentials(tls, logger),
      package: ADMIN_PACKAGE,
      // Both protos in one definition, so reflection describes the health service too.
      protoPath: [ADMIN_PROTO_PATH, HEALTH_PROTO_PATH],
      loader: { ...ADMIN_PROTO_LOADER_OPTIONS },
      onLoadPackageDefinition: (pkg, server: Server) => {
        new ReflectionService(pkg).addToServer(server);
        grpcHealth.addToServer(server);
      },
    },
  };
}
