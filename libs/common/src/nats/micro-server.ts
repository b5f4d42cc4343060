import { type NatsOptions, ServerNats } from '@nestjs/microservices';
import type { NatsConnection, Service, Subscription } from 'nats';
import { toErrorBody } from '../errors';

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
 *
 * The endpoint stats are the one record of requests (count, errors, processing time): /metrics
 * exports them from `requestStats()` (Metrics.useRequestStats), nothing else counts requests. nats.js
 * 2.x times only the synchronous call of a handler and counts only synchronous throws as errors, but
 * Nest's handlers answer asynchronously (and an error is an {"ok":false} reply, not a throw). So each
 * endpoint's stats are recorded here instead, when the reply is sent: the time covers the awaited
 * handler, an error reply counts as an error (`last_error` is "CODE: message"), and the errors by
 * code are the endpoint's `data` in $SRV.STATS.
 */
export class MicroNatsServer extends ServerNats {
  private service?: Service;
  private readonly eventSubscriptions: Subscription[] = [];
  /** Per endpoint subject: its nats.js stats record and its errors by code. */
  private readonly endpoints = new Map<string, { stats: EndpointStatsRecord; errors: Record<string, number> }>();
  /** When each request in progress arrived, and the error it ended with (by its message object). */
  private readonly inFlight = new WeakMap<object, { started: bigint; subject: string; error?: { code: string; message: string } }>();

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
    this.service = await nc.services.add({
      ...this.info,
      ...(queue ? { queue } : {}),
      // The endpoint's `data` in $SRV.STATS: its error replies by code.
      statsHandler: async (endpoint) => ({ errors: { ...(this.endpoints.get(endpoint.subject)?.errors ?? {}) } }),
    });
    for (const [subject, ref] of this.messageHandlers) {
      const handle = this.getMessageHandler(subject).bind(this);
      const q = (ref.extras?.queue as string | undefined) ?? queue;
      if (ref.isEventHandler) {
        this.eventSubscriptions.push(nc.subscribe(subject, { ...(q ? { queue: q } : {}), callback: (err, msg) => void handle(err, msg) }));
        continue;
      }
      const endpoint = this.service.addEndpoint(endpointName(subject), {
        subject,
        ...(q ? { queue: q } : {}),
        handler: (err, msg) => {
          if (msg) this.inFlight.set(msg, { started: process.hrtime.bigint(), subject });
          void handle(err, msg);
        },
      });
      const stats = endpointStatsRecord(this.service, endpoint);
      // The synchronous call is not the request's time: it is recorded when the reply is sent.
      stats.countLatency = () => undefined;
      this.endpoints.set(subject, { stats, errors: {} });
    }
  }

  /** Nest sends a reply's packets through this: the last one (isDisposed) ends the request. */
  override getPublisher(natsMsg: Parameters<ServerNats['getPublisher']>[0], id: string, ctx: Parameters<ServerNats['getPublisher']>[2]): (response: unknown) => unknown {
    const publish = super.getPublisher(natsMsg, id, ctx);
    const pending = this.inFlight.get(natsMsg);
    if (!pending) return publish;
    return (response: unknown) => {
      const packet = response as { err?: unknown; isDisposed?: boolean };
      if (packet.err !== undefined) pending.error = toErrorBody(packet.err);
      const sent = publish(response);
      if (packet.isDisposed) {
        this.inFlight.delete(natsMsg);
        this.recordRequest(pending.subject, process.hrtime.bigint() - pending.started, pending.error);
      }
      return sent;
    };
  }

  private recordRequest(subject: string, nanos: bigint, error?: { code: string; message: string }): void {
    const e = this.endpoints.get(subject);
    if (!e) return;
    const s = e.stats;
    s.num_requests++;
    s.processing_time += Number(nanos);
    s.average_processing_time = Math.round(s.processing_time / s.num_requests);
    if (error) {
      s.countError(new Error(`${error.code}: ${error.message}`));
      // Codes are a closed set (ErrorCodes), so this map stays small.
      e.errors[error.code] = (e.errors[error.code] ?? 0) + 1;
    }
  }

  /** Every endpoint's requests, error replies by code and processing time, read from the services API's stats. */
  async requestStats(): Promise<RequestStats[]> {
    if (!this.service) return [];
    const { endpoints } = await this.service.stats();
    return (endpoints ?? []).map((e) => ({
      subject: e.subject,
      requests: e.num_requests,
      errors: ((e.data as { errors?: Record<string, number> } | undefined)?.errors ?? {}),
      seconds: e.processing_time / 1e9,
    }));
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

/** One endpoint's requests as the services API counts them (what /metrics exports). */
export interface RequestStats {
  subject: string;
  requests: number;
  /** Error replies by code (they are part of `requests`). */
  errors: Record<string, number>;
  /** Total processing time. */
  seconds: number;
}

/** The fields of nats.js 2.x's per-endpoint stats record (NamedEndpointStatsImpl) this server writes. */
interface EndpointStatsRecord {
  num_requests: number;
  processing_time: number;
  average_processing_time: number;
  countLatency(start: number): void;
  countError(err: Error): void;
}

/**
 * The stats record nats.js keeps for an endpoint. Not public API in nats.js 2.x (3.x moved the
 * services API to @nats-io/services): fail at start-up, not with wrong numbers, if its shape changes.
 */
function endpointStatsRecord(service: Service, endpoint: unknown): EndpointStatsRecord {
  const handlers = (service as unknown as { handlers?: Array<{ qi?: unknown; stats?: EndpointStatsRecord }> }).handlers;
  const stats = handlers?.find((h) => h.qi === endpoint)?.stats;
  if (!stats || typeof stats.countLatency !== 'function' || typeof stats.countError !== 'function' || typeof stats.num_requests !== 'number') {
    throw new Error('this nats.js version keeps micro endpoint stats differently: MicroNatsServer (libs/common/src/nats/micro-server.ts) must be adapted');
  }
  return stats;
}
