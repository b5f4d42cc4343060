import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import {
  DownloadAckedSchema,
  DownloadCompletedSchema,
  ensureFactsStream,
  EventSubjects,
  FACT_MAX_AGE_MS,
  FACTS_STREAM,
  FactSubjects,
  FileCompletedEventSchema,
  type Logger,
  parseOrThrow,
  RegisterFileSchema,
  SERVICE_LOGGER,
  SwarmError,
  toErrorBody,
  TRACKER_FACTS_CONSUMER,
} from '@swarmshare/common';
import { AckPolicy, type ConsumerMessages, DeliverPolicy, type JsMsg, type NatsConnection, nanos } from 'nats';
import type { z } from 'zod';
import { TrackerRepository } from '../tracker.repository';
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
/** A fact the tracker refuses with one of these is refused every time: it is dropped, not retried. */
const REFUSALS = new Set(['BAD_REQUEST', 'NOT_FOUND', 'CONFLICT']);

/** How to apply a fact of one subject: its body's schema and the tracker operation. */
interface FactKind<S extends z.ZodType = z.ZodType> {
  name: string;
  schema: S;
  apply(tracker: TrackerService, body: z.output<S>): Promise<unknown>;
}
const kind = <S extends z.ZodType>(k: FactKind<S>): FactKind => k as unknown as FactKind;

/** Every subject of the facts stream (FACT_SUBJECTS) and how the tracker applies it. */
const KINDS: Record<string, FactKind> = {
  [EventSubjects.fileCompleted]: kind({ name: 'file.completed', schema: FileCompletedEventSchema, apply: (t, e) => t.fileCompleted(e) }),
  [FactSubjects.downloadCompleted]: kind({ name: 'download.completed', schema: DownloadCompletedSchema, apply: (t, d) => t.downloadCompleted(d) }),
  [FactSubjects.downloadAcked]: kind({ name: 'download.acked', schema: DownloadAckedSchema, apply: (t, a) => t.downloadAcked(a) }),
  [FactSubjects.replicationFinished]: kind({ name: 'replication.finished', schema: RegisterFileSchema, apply: (t, r) => t.registerFile(r) }),
};

/**
 * Applies the facts stream (libs/common/src/nats/facts-stream.ts) through the trackers' durable
 * consumer: replicas share it, so each fact is applied by one of them; a fact is acked only once
 * applied, so one published while every tracker was down is applied when one comes back.
 *
 * Idempotent twice over: each fact's id (its Nats-Msg-Id) is remembered in Redis once applied, for
 * as long as the stream keeps facts, so a redelivered or replayed fact is skipped; and the
 * operations themselves count a download once per (file, node), so a fact applied by request and
 * again from the stream (the gateway's request timed out after the tracker wrote it) counts once.
 */
@Injectable()
export class FactsConsumer implements OnApplicationBootstrap, OnApplicationShutdown {
  private messages?: ConsumerMessages;
  private loop?: Promise<void>;

  constructor(
    private readonly tracker: TrackerService,
    private readonly repo: TrackerRepository,
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
    const k = KINDS[m.subject];
    let body: { fileId: string; nodeId: string };
    try {
      if (!k) throw new SwarmError('BAD_REQUEST', `no fact is published on ${m.subject}`);
      body = parseOrThrow(k.schema, m.json(), `${k.name} fact`) as typeof body;
    } catch (err) {
      // Never valid, however often delivered: drop it for good.
      this.logger.warn({ err: toErrorBody(err), subject: m.subject, seq: m.seq }, 'dropped a malformed fact');
      m.term();
      return;
    }
    const id = m.headers?.get('Nats-Msg-Id') || `seq:${m.seq}`;
    const fields = { subject: m.subject, factId: id, seq: m.seq, redelivered: m.redelivered, fileId: body.fileId, nodeId: body.nodeId };
    try {
      if (await this.repo.factApplied(id)) {
        m.ack();
        this.logger.info({ event: 'fact-skipped', ...fields }, `${k.name} was applied already`);
        return;
      }
      await k.apply(this.tracker, body);
      await this.repo.markFactApplied(id, FACT_MAX_AGE_MS);
      m.ack();
      this.logger.info({ event: 'fact-applied', ...fields }, `applied ${k.name}`);
    } catch (err) {
      const e = toErrorBody(err);
      if (REFUSALS.has(e.code)) {
        this.logger.warn({ err: e, ...fields }, `the tracker refuses this ${k.name}; dropped`);
        m.term();
        return;
      }
      this.logger.error({ err: e, ...fields }, `could not apply ${k.name}; it will be delivered again`);
      m.nak(RETRY_DELAY_MS);
    }
  }
}
