import type { Observable, Subscription } from 'rxjs';
import type { HealthRegistry } from './health-registry';
import type { Metrics } from './metrics';

/** The name of the readiness check runService always registers. */
export const NATS_CHECK = 'nats';

/**
 * Follow a Nest microservice's `status` stream ('connected', 'disconnected', 'reconnecting', ...):
 * registers the 'nats' readiness check (up only while 'connected'), keeps the
 * swarmshare_nats_connected gauge, and counts every return to 'connected' after a loss as a reconnect.
 */
export function trackNatsStatus(status: Observable<string>, health: HealthRegistry, metrics: Metrics): Subscription {
  let current = 'connecting';
  let since = Date.now();
  let everConnected = false;
  metrics.natsConnected.set(0);
  health.register(NATS_CHECK, () => {
    if (current !== 'connected') throw new Error(`NATS is ${current} (for ${Math.round((Date.now() - since) / 1000)} s)`);
    return { status: current };
  });
  return status.subscribe((s) => {
    if (s === current) return;
    if (s === 'connected') {
      if (everConnected) metrics.natsReconnects.inc();
      everConnected = true;
    }
    current = s;
    since = Date.now();
    metrics.natsConnected.set(s === 'connected' ? 1 : 0);
  });
}
