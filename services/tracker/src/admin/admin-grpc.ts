import { HealthImplementation, protoPath as HEALTH_PROTO_PATH } from 'grpc-health-check';
import { ReflectionService } from '@grpc/reflection';
import type { Server } from '@grpc/grpc-js';
import { type GrpcOptions, Transport } from '@nestjs/microservices';
import { ADMIN_PACKAGE, ADMIN_PROTO_LOADER_OPTIONS, ADMIN_PROTO_PATH, ADMIN_SERVICE_FULL_NAME, type HealthRegistry, type Logger, type ObservabilityLifecycle } from '@swarmshare/common';

/** How often grpc.health.v1 is brought up to date with the tracker's readiness checks. */
const HEALTH_REFRESH_MS = 2000;

/**
 * The tracker's gRPC transport: the Admin service (Nest handlers in AdminController), plus the
 * standard grpc.health.v1 and server-reflection services added to the same server when Nest loads
 * the package definition (as Nest's docs wire @grpc/reflection). Health says SERVING exactly when
 * /readyz does (NATS and Redis answer); it and reflection need no token: they expose no data.
 */
export function adminGrpcOptions(host: string, port: number, health: HealthRegistry, lifecycle: ObservabilityLifecycle, logger: Logger): GrpcOptions {
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
