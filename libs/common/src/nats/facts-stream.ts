import { DiscardPolicy, type NatsConnection, nanos, type PubAck, RetentionPolicy, StorageType, type StreamConfig } from 'nats';
import { EventSubjects, FactSubjects } from '../subjects';

/**
 * The JetStream stream of facts that change the tracker's registry. Unlike the other events (core
 * NATS, fire-and-forget), a fact published here is kept until the trackers' durable consumer has
 * applied it, so a fact published while every tracker is down is applied when one comes back.
 * It carries file.completed (every time, from the stores) and the gateways' facts the tracker could
 * not take by request (FactSubjects); a core publish on these subjects is stored too.
 */
export const FACTS_STREAM = 'SWARM_FACTS';
export const FACT_SUBJECTS = [EventSubjects.fileCompleted, ...Object.values(FactSubjects)] as const;
/** The trackers' durable consumer: replicas share it, so each fact goes to one of them. */
export const TRACKER_FACTS_CONSUMER = 'swarmshare-tracker';

/** How long a fact's id is remembered as applied: as long as the stream keeps the fact. */
export const FACT_MAX_AGE_MS = 24 * 3600 * 1000;

/** Bounds: a day of facts, at most a million or 256 MiB, oldest dropped first (re-announce repairs the rest). */
const FACTS_STREAM_CONFIG: Partial<StreamConfig> = {
  name: FACTS_STREAM,
  subjects: [...FACT_SUBJECTS],
  retention: RetentionPolicy.Limits,
  storage: StorageType.File,
  discard: DiscardPolicy.Old,
  max_age: nanos(FACT_MAX_AGE_MS),
  max_msgs: 1_000_000,
  max_bytes: 256 * 1024 * 1024,
  // A republished fact (same Nats-Msg-Id) within this window is stored once.
  duplicate_window: nanos(120_000),
};

/** Create the stream if it does not exist (publishers and the consumer both call this; either may start first). */
export async function ensureFactsStream(nc: NatsConnection): Promise<void> {
  let jsm;
  try {
    jsm = await nc.jetstreamManager();
  } catch (e) {
    throw new Error(`JetStream is not available on this NATS (${(e as Error).message}): start nats-server with -js (compose and Kubernetes do)`);
  }
  const existing = await jsm.streams.info(FACTS_STREAM).catch(() => undefined);
  if (existing) {
    // A stream made by an older version lacks the newer fact subjects: add them (its facts stay).
    const missing = FACT_SUBJECTS.filter((s) => !existing.config.subjects?.includes(s));
    if (missing.length > 0) await jsm.streams.update(FACTS_STREAM, { ...existing.config, subjects: [...(existing.config.subjects ?? []), ...missing] });
    return;
  }
  try {
    await jsm.streams.add(FACTS_STREAM_CONFIG);
  } catch (e) {
    // Another service created it in between: fine.
    await jsm.streams.info(FACTS_STREAM).catch(() => {
      throw e;
    });
  }
}

/** The Nats-Msg-Id of a fact: the same fact published twice within the duplicate window is stored once. */
export function factId(subject: string, ...parts: string[]): string {
  return [subject, ...parts].join(':');
}

/**
 * Publishes facts into the stream and waits for the server's PubAck (bounded by `timeoutMs`), so a
 * resolved publish means the fact is stored. The stream is created on first use when missing.
 */
export class FactPublisher {
  private stream?: Promise<void>;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs = 5000,
  ) {}

  async publish(subject: (typeof FACT_SUBJECTS)[number], body: unknown, id: string): Promise<PubAck> {
    this.stream ??= ensureFactsStream(this.nc).catch((e: unknown) => {
      this.stream = undefined;
      throw e;
    });
    await this.stream;
    return this.nc.jetstream().publish(subject, Buffer.from(JSON.stringify(body)), { msgID: id, timeout: this.timeoutMs });
  }
}
