import { type DynamicModule, Global, Injectable, Module, type OnApplicationShutdown, type OnModuleDestroy } from '@nestjs/common';
import { HealthRegistry } from './health-registry';
import { Metrics, type MetricsOptions } from './metrics';
import { NatsMetricsInterceptor } from './nats-metrics.interceptor';

/**
 * Owns what runService starts around a service (HTTP server, the default checks' connections, the
 * NATS status subscription): on shutdown it first turns readiness off, then releases all of them.
 */
@Injectable()
export class ObservabilityLifecycle implements OnModuleDestroy, OnApplicationShutdown {
  private readonly disposers: Array<() => unknown | Promise<unknown>> = [];

  constructor(private readonly health: HealthRegistry) {}

  /** Run `fn` when the application shuts down (last added, first run). */
  onShutdown(fn: () => unknown | Promise<unknown>): void {
    this.disposers.push(fn);
  }

  onModuleDestroy(): void {
    this.health.markShuttingDown();
  }

  async onApplicationShutdown(): Promise<void> {
    while (this.disposers.length > 0) {
      const fn = this.disposers.pop()!;
      try {
        await fn();
      } catch {
        // shutting down: nothing useful to do with a failed release
      }
    }
  }
}

/**
 * Global module with one HealthRegistry and one Metrics for the whole process. runService imports it
 * beside the service's own module, so services simply inject the two classes. A unit test that builds
 * a service module by itself imports `ObservabilityModule.forRoot()` too.
 */
@Global()
@Module({})
export class ObservabilityModule {
  static forRoot(opts: MetricsOptions = {}): DynamicModule {
    const health = new HealthRegistry();
    const metrics = new Metrics(opts);
    return {
      module: ObservabilityModule,
      global: true,
      providers: [{ provide: HealthRegistry, useValue: health }, { provide: Metrics, useValue: metrics }, ObservabilityLifecycle, NatsMetricsInterceptor],
      exports: [HealthRegistry, Metrics, ObservabilityLifecycle, NatsMetricsInterceptor],
    };
  }
}
