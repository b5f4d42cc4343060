import type { Logger, Metrics } from '@swarmshare/common';
import type { ChunkStoreService } from './chunk-store.service';

export interface ScrubberOptions {
  /** Bytes re-hashed per second; 0 = off. */
  bytesPerSec: number;
  /** Chunks re-hashed per verify call (the rate is kept between calls). */
  batch?: number;
  /** A full pass starts at most this often (default 10 min), however fast the last one was. */
  passIntervalMs?: number;
  /** Injected for tests: wait `ms` (resolves early when the scrubber stops). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/**
 * Background scrub (docs/operations.md "Corrupt chunks"): re-reads every present chunk at a
 * bounded rate and re-hashes it, so a chunk the disk corrupted is found before a downloader trips
 * on it. A bad chunk is marked missing by the store, which tells its gateway to fetch it again.
 */
export class Scrubber {
  private readonly abort = new AbortController();
  private loop?: Promise<void>;

  constructor(
    private readonly store: Pick<ChunkStoreService, 'files' | 'verifyChunks'>,
    private readonly opts: ScrubberOptions,
    private readonly logger?: Logger,
    private readonly metrics?: Pick<Metrics, 'chunksCorrupt' | 'scrubBytes'>,
  ) {}

  get enabled(): boolean {
    return this.opts.bytesPerSec > 0;
  }

  start(): void {
    if (!this.enabled || this.loop) return;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    const interval = this.opts.passIntervalMs ?? 600_000;
    while (!this.abort.signal.aborted) {
      const started = Date.now();
      try {
        const r = await this.pass();
        this.logger?.info({ files: r.files, chunks: r.chunks, bytes: r.bytes, corrupt: r.corrupt }, 'scrub pass done');
      } catch (e) {
        if (!this.abort.signal.aborted) this.logger?.warn({ err: (e as Error).message }, 'scrub pass failed; trying again at the next pass');
      }
      await this.sleep(Math.max(0, interval - (Date.now() - started)));
    }
  }

  /** One pass over every file's present chunks, at the configured rate. */
  async pass(): Promise<{ files: number; chunks: number; bytes: number; corrupt: number }> {
    const batch = this.opts.batch ?? 16;
    const out = { files: 0, chunks: 0, bytes: 0, corrupt: 0 };
    for (const f of await this.store.files()) {
      if (this.abort.signal.aborted) break;
      out.files++;
      for (let lo = 0; lo < f.chunkCount && !this.abort.signal.aborted; lo += batch) {
        const indexes = Array.from({ length: Math.min(batch, f.chunkCount - lo) }, (_, k) => lo + k);
        // A file deleted or not yet present in that range is simply skipped.
        const r = await this.store.verifyChunks(f.fileId, indexes, 'scrub').catch(() => undefined);
        if (!r || r.checked === 0) continue;
        const bytes = r.checked * f.chunkSize;
        out.chunks += r.checked;
        out.bytes += bytes;
        out.corrupt += r.corrupt.length;
        this.metrics?.scrubBytes.inc(bytes);
        if (r.corrupt.length) this.metrics?.chunksCorrupt.inc({ found_by: 'scrub' }, r.corrupt.length);
        await this.sleep((bytes / this.opts.bytesPerSec) * 1000);
      }
    }
    return out;
  }

  private sleep(ms: number): Promise<void> {
    if (this.opts.sleep) return this.opts.sleep(ms, this.abort.signal);
    return new Promise((resolve) => {
      if (this.abort.signal.aborted) return resolve();
      const t = setTimeout(resolve, ms);
      this.abort.signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
    });
  }
}
