import { type NatsOptions, ServerNats } from '@nestjs/microservices';
import type { NatsConnection, Service, Subscription } from 'nats';

/** How a service presents itself on the NATS services API ($SRV.PING / INFO / STATS, `nats micro ls`). */
export interface MicroServiceInfo {
  /** Letters, digits, '-' and '_' only, e.g. `swarmshare-tracker`. */
  name: string;
  /** Semantic version. */
  version: string;
  description: string;
  metadata?: Record<string, string>;
}

/**
 * Nest's NATS transport, with every request subject registered as an endpoint of a NATS micro
 * service (`nc.services.add` in nats.js 2.x) instead of a bare subscription: the same subjects and
 * queue group, one subscription each, and the NATS services API answers $SRV.PING, $SRV.INFO and
 * $SRV.STATS (io.nats.micro.v1) with this service's endpoints and their request counts. Event
 * subjects (no reply) stay plain subscriptions: micro endpoints are request/reply.
 *
 * Without a queue group of its own, nats.js puts a micro endpoint in the queue group "q"; a node's
 * subjects have one subscriber each, so that changes nothing for them.
 */
export class MicroNatsServer extends ServerNats {
  private service?: Service;
  private readonly eventSubscriptions: Subscription[] = [];

  constructor(
    private readonly natsOptions: NonNullable<NatsOptions['options']>,
    private readonly info: MicroServiceInfo,
  ) {
    super(natsOptions);
  }

  override start(callback: (err?: unknown) => void): void {
    this.addService(this.unwrap<NatsConnection>()).then(() => callback(), callback);
  }

  /** The registered micro service (for tests and diagnostics). */
  get microService(): Service | undefined {
    return this.service;
  }

  private async addService(nc: NatsConnection): Promise<void> {
    const queue = this.natsOptions?.queue;
    this.service = await nc.services.add({ ...this.info, ...(queue ? { queue } : {}) });
    for (const [subject, ref] of this.messageHandlers) {
      const handle = this.getMessageHandler(subject).bind(this);
      const q = (ref.extras?.queue as string | undefined) ?? queue;
      if (ref.isEventHandler) {
        this.eventSubscriptions.push(nc.subscribe(subject, { ...(q ? { queue: q } : {}), callback: (err, msg) => void handle(err, msg) }));
        continue;
      }
      this.service.addEndpoint(endpointName(subject), { subject, ...(q ? { queue: q } : {}), handler: (err, msg) => void handle(err, msg) });
    }
  }

  override async close(): Promise<void> {
    // Stop taking requests (the endpoints' subscriptions drain), then let Nest finish the rest.
    for (const s of this.eventSubscriptions.splice(0)) s.unsubscribe();
    await this.service?.stop().catch(() => undefined);
    await super.close();
  }
}

/** A micro endpoint name for a subject: its tokens after `swarm.`, joined with '-' (names cannot hold dots). */
export function endpointName(subject: string): string {
  return subject.replace(/^swarm\./, '').replace(/[^-\w]/g, '-');
}
