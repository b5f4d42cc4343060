import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import {
  ensureFactsStream,
  FACTS_STREAM,
  FileCompletedEventSchema,
  type Logger,
  parseOrThrow,
  SERVICE_LOGGER,
  toErrorBody,
  TRACKER_FACTS_CONSUMER,
} from '@swarmshare/common';
import { AckPolicy, type ConsumerMessages, DeliverPolicy, type JsMsg, type NatsConnection, nanos } from 'nats';
import { TrackerService } from '../tracker.service';
import { CLIENT_NATS } from './client-nats';

/** A fact not acked within this long is delivered again (to this or another replica). */
const ACK_WAIT_MS = 30_000;
/** Deliveries of one fact before it is given up (the next announce repairs what it would have). */
const MAX_DELIVER = 10;
/** Facts one replica holds un-acked at once (bounded memory; the rest wait in the stream). */
const MAX_ACK_PENDING = 1000;
/** After a failed apply (Redis down, say), wait this long before the fact comes back. */
const RETRY_DELAY_MS = 2000;

/**
 * Applies the facts stream (libs/common/src/nats/facts-stream.ts) through the trackers' durable
 * consumer: replicas share it, so each fact is applied by one of them; a fact is acked only once
 * applied, so one published while every tracker was down is applied when one comes back. Applying
 * is idempotent (file.completed makes the node a seeder), so a redelivered fact changes nothing.
 */
@Injectable()
export class FactsConsumer implements OnApplicationBootstrap, OnApplicationShutdown {
  private messages?: ConsumerMessages;
  private loop?: Promise<void>;

  constructor(
    private readonly tracker: TrackerService,
    @Inject(CLIENT_NATS) private readonly nc: NatsConnection,
    @Inject(SERVICE_LOGGER) private readonly logger: Logger,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await ensureFactsStream(this.nc);
    const jsm = await this.nc.jetstreamManager();
    await jsm.consumers.add(FACTS_STREAM, {
      durable_name: TRACKER_FACTS_CONSUMER,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(ACK_WAIT_MS),
      max_deliver: MAX_DELIVER,
      max_ack_pending: MAX_ACK_PENDING,
    });
    const consumer = await this.nc.jetstream().consumers.get(FACTS_STREAM, TRACKER_FACTS_CONSUMER);
    this.messages = await consumer.consume({ max_messages: 100 });
    this.loop = (async () => {
      for await (const m of this.messages!) await this.apply(m);
    })().catch((e: unknown) => this.logger.error({ err: toErrorBody(e) }, 'the facts consumer stopped'));
  }

  async onApplicationShutdown(): Promise<void> {
    await this.messages?.close().catch(() => undefined);
    await this.loop;
  }

  private async apply(m: JsMsg): Promise<void> {
    let event;
    try {
      event = parseOrThrow(FileCompletedEventSchema, m.json(), 'file.completed event');
    } catch (err) {
      // Never valid, however often delivered: drop it for good.
      this.logger.warn({ err: toErrorBody(err), seq: m.seq }, 'dropped a malformed file.completed event');
      m.term();
      return;
    }
    try {
      await this.tracker.fileCompleted(event);
      m.ack();
      this.logger.info({ event: 'fact-applied', subject: m.subject, seq: m.seq, redelivered: m.redelivered, ...event }, 'applied file.completed');
    } catch (err) {
      this.logger.error({ err: toErrorBody(err), ...event }, 'could not apply file.completed; it will be delivered again');
      m.nak(RETRY_DELAY_MS);
    }
  }
}
