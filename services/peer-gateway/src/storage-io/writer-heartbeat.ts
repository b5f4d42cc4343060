import type { Logger } from '@swarmshare/common';
import type { ChunkStoreClient } from './chunk-store.client';

/**
 * Keeps this gateway's writer session alive at the chunk-store, so the store can tell a live
 * writer's chunk locks from a dead one's: the first beat is a hello (the store then releases the
 * locks of this node's earlier, dead, gateway), then one beat every `intervalMs`. Until a hello is
 * answered (store not up yet, NATS down), every beat is a hello.
 */
export class WriterHeartbeat {
  private timer?: NodeJS.Timeout;
  private greeted = false;
  private beating = false;

  constructor(
    private readonly store: Pick<ChunkStoreClient, 'heartbeat'>,
    private readonly intervalMs: number,
    private readonly logger?: Logger,
  ) {}

  start(): void {
    void this.beat();
    this.timer = setInterval(() => void this.beat(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async beat(): Promise<void> {
    if (this.beating) return; // one at a time: a slow store does not pile beats up
    this.beating = true;
    try {
      const hello = !this.greeted;
      const { released } = await this.store.heartbeat(hello);
      if (hello) {
        this.greeted = true;
        if (released > 0) this.logger?.info({ locks: released }, "the chunk-store released the chunk locks of this node's previous gateway");
      }
    } catch (e) {
      this.logger?.debug?.({ err: (e as Error).message }, 'writer heartbeat not answered; retrying');
    } finally {
      this.beating = false;
    }
  }
}
