import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chunkCount, type Logger, setNewest } from '@swarmshare/common';
import type { ChunkStoreClient } from '../storage-io/chunk-store.client';
import type { TrackerClient } from './tracker.client';

/** Whole-file hashes remembered, so a registration that fails is not paid for twice. */
const MAX_REMEMBERED_HASHES = 256;
/** Files re-registered per announce reply; the rest come with the next replies. */
const MAX_PER_ROUND = 8;

/**
 * Registers again, with the tracker, files this node holds in full that the tracker has no record
 * of (its announce reply lists them): after Redis lost its data, the registry is rebuilt from the
 * nodes. Name, size, chunk size and chunk count come from the node's manifest; the whole-file
 * SHA-256, which no manifest holds, is computed once from the data file. Partial holders cannot
 * (they lack bytes); they rejoin the file's swarm on their next announce once a full holder has
 * registered it. One round at a time; failures are logged and retried on a later announce.
 */
export class ReRegistrar {
  private readonly hashes = new Map<string, string>();
  private running?: Promise<void>;

  constructor(
    private readonly store: Pick<ChunkStoreClient, 'manifest' | 'layout'>,
    private readonly tracker: Pick<TrackerClient, 'registerFile'>,
    private readonly nodeId: string,
    private readonly logger?: Logger,
  ) {}

  /** `unknown`: ids from the announce reply; `complete`: the files this node holds in full. */
  reRegister(unknown: readonly string[], complete: ReadonlySet<string>): Promise<void> {
    const mine = unknown.filter((id) => complete.has(id)).slice(0, MAX_PER_ROUND);
    if (mine.length === 0 || this.running) return this.running ?? Promise.resolve();
    this.running = this.round(mine).finally(() => (this.running = undefined));
    return this.running;
  }

  private async round(fileIds: string[]): Promise<void> {
    for (const fileId of fileIds) {
      try {
        const m = await this.store.manifest(fileId);
        const hash = this.hashes.get(fileId) ?? (await this.hashFile(fileId));
        setNewest(this.hashes, fileId, hash, MAX_REMEMBERED_HASHES);
        await this.tracker.registerFile({ fileId, name: m.name, size: m.size, chunkSize: m.chunkSize, chunkCount: chunkCount(m.size, m.chunkSize), hash, nodeId: this.nodeId, restore: true });
        this.logger?.info({ event: 'file.reregistered', fileId, name: m.name }, 'registered a file the tracker had lost');
      } catch (e) {
        this.logger?.warn({ fileId, err: (e as Error).message }, 'could not register a file the tracker lacks; will retry on a later announce');
      }
    }
  }

  /** SHA-256 of the whole data file (the store's chunks are verified, so this is the content's hash). */
  private async hashFile(fileId: string): Promise<string> {
    const { path, size } = await this.store.layout(fileId);
    const h = createHash('sha256');
    if (size > 0) for await (const piece of createReadStream(path, { start: 0, end: size - 1, highWaterMark: 1 << 20 })) h.update(piece as Buffer);
    return h.digest('hex');
  }
}
