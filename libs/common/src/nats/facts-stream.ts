import { DiscardPolicy, type NatsConnection, nanos, RetentionPolicy, StorageType, type StreamConfig } from 'nats';
import { EventSubjects } from '../subjects';

/**
 * The JetStream stream of facts that change the tracker's registry. Unlike the other events (core
 * NATS, fire-and-forget), a fact published here is kept until the trackers' durable consumer has
 * applied it, so a fact published while every tracker is down is applied when one comes back.
 * Today it carries file.completed; subjects keep their names, so a core publish on them is stored too.
 */
export const FACTS_STREAM = 'SWARM_FACTS';
export const FACT_SUBJECTS = [EventSubjects.fileCompleted] as const;
/** The trackers' durable consumer: replicas share it, so each fact goes to one of them. */
export const TRACKER_FACTS_CONSUMER = 'swarmshare-tracker';

/** Bounds: a day of facts, at most a million or 256 MiB, oldest dropped first (re-announce repairs the rest). */
const FACTS_STREAM_CONFIG: Partial<StreamConfig> = {
  name: FACTS_STREAM,
  subjects: [...FACT_SUBJECTS],
  retention: RetentionPolicy.Limits,
  storage: StorageType.File,
  discard: DiscardPolicy.Old,
  max_age: nanos(24 * 3600 * 1000),
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
  try {
    await jsm.streams.info(FACTS_STREAM);
    return;
  } catch {
    // not there yet
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
