import type { NatsConnection } from 'nats';
import { type ChunksCorruptEvent, EventSubjects, FactPublisher, factId, type FileCompletedEvent, type Logger, storeSubjects } from '@swarmshare/common';

/** The facts this store publishes (see docs/architecture.md "Events, facts and soft state"). */
export interface EventPublisher {
  fileCompleted(event: FileCompletedEvent): void;
  /** Chunks found corrupt and marked missing: the node's gateway fetches them again (core NATS; a lost one waits for the next fetch or scrub). */
  chunksCorrupt(event: ChunksCorruptEvent): void;
}

export class NatsEventPublisher implements EventPublisher {
  private readonly facts: FactPublisher;

  constructor(
    private readonly nc: NatsConnection,
    private readonly logger?: Logger,
  ) {
    this.facts = new FactPublisher(nc);
  }

  /**
   * A registry-changing fact: into the JetStream facts stream, acknowledged by the server, and
   * stored once however often it is republished (its id names the node and the file). If NATS cannot
   * take it, the next announce tells the tracker the same thing.
   */
  fileCompleted(event: FileCompletedEvent): void {
    const subject = EventSubjects.fileCompleted;
    void this.facts
      .publish(subject, event, factId(subject, event.nodeId, event.fileId))
      .catch((e: unknown) => this.logger?.warn({ err: (e as Error).message, ...event }, 'could not publish file.completed to JetStream; the next announce repairs it'));
  }

  chunksCorrupt(event: ChunksCorruptEvent): void {
    this.nc.publish(storeSubjects(event.nodeId).corrupt, Buffer.from(JSON.stringify(event)));
  }
}
