import { randomBytes } from 'node:crypto';
import { chunkBytes, type Logger } from '@swarmshare/common';
import type { ChunkIndexRepository } from './chunk-index.repository';
import { CorruptRecordError, type FileRecordRepository } from './file-record.repository';
import type { KeyedMutex } from './keyed-mutex';

export interface RebuildResult {
  files: number;
  skipped: number;
  removed: number;
}

/**
 * Rebuilds the Redis index from the disk records: at start-up, and whenever Redis turns out to have
 * lost its data (the marker key is gone, or a file on disk is missing from the index). It reads the
 * manifests and bitmaps only: nothing is re-hashed or re-downloaded.
 */
export class IndexRebuilder {
  private running: Promise<RebuildResult> | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly disk: FileRecordRepository,
    private readonly index: ChunkIndexRepository,
    private readonly fileLocks: KeyedMutex,
    private readonly logger: Logger,
  ) {}

  /** One rebuild at a time: callers arriving during a rebuild share it. */
  rebuild(reason: string): Promise<RebuildResult> {
    if (!this.running) {
      this.running = this.run(reason).finally(() => (this.running = null));
    }
    return this.running;
  }

  /** Rebuild when the index marker is gone (FLUSHALL, or a Redis restarted without persistence). */
  async ensure(): Promise<void> {
    if (this.running) {
      await this.running;
      return;
    }
    if (!(await this.index.isIndexed())) await this.rebuild('index marker missing: Redis lost its data');
  }

  /** Check the marker every `intervalMs` (best effort: a failed check is logged and retried). */
  watch(intervalMs: number): void {
    this.stop();
    this.timer = setInterval(() => {
      this.ensure().catch((err) => this.logger.warn({ err: (err as Error).message }, 'index check failed'));
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async run(reason: string): Promise<RebuildResult> {
    for (let attempt = 1; ; attempt++) {
      // The marker goes in first: if Redis is flushed while we work, it vanishes and we go again.
      const token = randomBytes(8).toString('hex');
      await this.index.beginRebuild(token);
      const result = await this.indexAll();
      if (await this.index.finishRebuild(token)) {
        this.logger.info({ event: 'index-rebuilt', reason, ...result }, 'index rebuilt from disk');
        return result;
      }
      this.logger.warn({ attempt }, 'Redis lost the index during the rebuild: rebuilding again');
      if (attempt >= 5) throw new Error('the Redis index keeps disappearing during the rebuild');
    }
  }

  private async indexAll(): Promise<RebuildResult> {
    const result: RebuildResult = { files: 0, skipped: 0, removed: 0 };
    const onDisk = new Set<string>();
    for (const id of await this.disk.listIds()) {
      await this.fileLocks.run(id, async () => {
        try {
          const rec = await this.disk.load(id);
          if (!rec) {
            // A create that died before writing its manifest; a new create of the same file reuses it.
            this.logger.warn({ fileId: id }, 'skipping file record without a manifest');
            result.skipped++;
            return;
          }
          const { manifest, allocated } = rec;
          await this.index.putFile(manifest, rec.bits, rec.pinned, allocated ? chunkBytes(allocated.indexes(), manifest.size, manifest.chunkSize) : undefined);
          onDisk.add(id);
          result.files++;
        } catch (err) {
          if (!(err instanceof CorruptRecordError)) throw err;
          this.logger.error({ fileId: id, err: err.message }, 'skipping corrupt file record');
          result.skipped++;
        }
      });
    }
    for (const id of await this.index.fileIds()) {
      if (onDisk.has(id)) continue;
      await this.fileLocks.run(id, async () => {
        // Created while we were listing the disk: keep it.
        if (await this.disk.load(id).catch(() => null)) return;
        await this.index.removeFile(id);
        result.removed++;
      });
    }
    return result;
  }
}
