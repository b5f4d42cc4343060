import type { NatsConnection } from 'nats';
import { type ChunkStoredEvent, EventSubjects, type FileCompletedEvent } from '@swarmshare/common';

/** The facts this store publishes (fire-and-forget; consumers reconcile on their own). */
export interface EventPublisher {
  chunkStored(event: ChunkStoredEvent): void;
  fileCompleted(event: FileCompletedEvent): void;
}

export class NatsEventPublisher implements EventPublisher {
  constructor(private readonly nc: NatsConnection) {}

  chunkStored(event: ChunkStoredEvent): void {
    this.publish(EventSubjects.chunkStored, event);
  }

  fileCompleted(event: FileCompletedEvent): void {
    this.publish(EventSubjects.fileCompleted, event);
  }

  private publish(subject: string, body: unknown): void {
    // publish() only buffers; while NATS is down it queues and flushes on reconnect.
    this.nc.publish(subject, Buffer.from(JSON.stringify(body)));
  }
}
