import { randomBytes } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import { join } from 'node:path';
import {
  ChunkSizeSchema,
  chunkSizeFor,
  computeFileId,
  formatBytes,
  type ImportBeginReply,
  type ImportCommitReply,
  type Logger,
  ManifestSchema,
  hashFileOnce,
  parseOrThrow,
  SwarmError,
} from '@swarmshare/common';
import type { ChunkStoreService } from './chunk-store.service';

export interface FileImportsOptions {
  /** Imports open at once (each holds a staging file until commit, abort or expiry). */
  maxOpen?: number;
  /** A staging file not committed within this long is deleted. */
  ttlMs?: number;
  now?: () => number;
}

interface Staged {
  path: string;
  size: number;
  expiresAt: number;
}

/**
 * Local import (docs/protocol.md, "Local import"): share of a file on this host without moving its
 * bytes through any socket. The store hands out an empty staging file under DATA_DIR/imports (never
 * a path the caller names); the CLI fills it by an in-kernel copy under its own permissions; on
 * commit the store hashes the bytes it holds (once: every chunk, and the whole content, in one pass
 * over the cores), builds the manifest and adopts the staging file as the file's data. The store
 * trusts nothing the caller says about the content.
 */
export class FileImports {
  readonly dir: string;
  private readonly staged = new Map<string, Staged>();
  private readonly maxOpen: number;
  private readonly ttlMs: number;
  private readonly now: () => number;
  private sweep?: NodeJS.Timeout;

  constructor(
    dataDir: string,
    private readonly store: ChunkStoreService,
    private readonly logger: Logger,
    opts: FileImportsOptions = {},
  ) {
    this.dir = join(dataDir, 'imports');
    this.maxOpen = opts.maxOpen ?? 8;
    this.ttlMs = opts.ttlMs ?? 15 * 60_000;
    this.now = opts.now ?? Date.now;
  }

  /** Staging files of an earlier process are never committed: start empty. */
  async start(): Promise<void> {
    await fs.rm(this.dir, { recursive: true, force: true });
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    this.sweep = setInterval(() => void this.expire(), Math.min(60_000, this.ttlMs));
    this.sweep.unref();
  }

  stop(): void {
    clearInterval(this.sweep);
  }

  async begin(size: number): Promise<ImportBeginReply> {
    await this.expire();
    if (this.staged.size >= this.maxOpen) throw new SwarmError('UNAVAILABLE', `this store already has ${this.maxOpen} imports open; try again when one finishes`);
    const reserved = [...this.staged.values()].reduce((n, s) => n + s.size, 0);
    const { free } = await this.store.stats();
    if (size + reserved > free) throw new SwarmError('NO_SPACE', `the file needs ${formatBytes(size)} but this store has ${formatBytes(Math.max(0, free - reserved))} free: free space or raise STORE_CAPACITY`);
    const importId = randomBytes(16).toString('hex');
    const path = join(this.dir, importId);
    // Created here, owner-only, so the caller only ever writes into a file the store made.
    await (await fs.open(path, 'wx', 0o600)).close();
    const expiresAt = this.now() + this.ttlMs;
    this.staged.set(importId, { path, size, expiresAt });
    return { importId, path, expiresAt };
  }

  async commit(importId: string, name: string, chunkSize?: number): Promise<ImportCommitReply> {
    const s = this.take(importId);
    try {
      // O_NOFOLLOW: a staging file swapped for a link to something else is refused, not read.
      const fh = await fs.open(s.path, constants.O_RDONLY | constants.O_NOFOLLOW).catch((e: NodeJS.ErrnoException) => {
        throw new SwarmError('BAD_REQUEST', `import ${importId}: the staging file is not a plain file (${e.code ?? e.message})`);
      });
      const st = await fh.stat().finally(() => fh.close());
      if (!st.isFile()) throw new SwarmError('BAD_REQUEST', `import ${importId}: the staging file is not a regular file`);
      if (st.size !== s.size) throw new SwarmError('BAD_LENGTH', `import ${importId}: the staging file has ${st.size} bytes, ${s.size} were announced; the copy did not finish`);
      const size = st.size;
      const cs = parseOrThrow(ChunkSizeSchema, chunkSize ?? chunkSizeFor(size), 'chunk size');
      const started = this.now();
      const { chunkHashes, contentHash } = await hashFileOnce(s.path, cs, { contentHash: true });
      const manifest = parseOrThrow(ManifestSchema, { fileId: computeFileId(size, cs, chunkHashes), name, size, chunkSize: cs, hashes: chunkHashes }, 'manifest');
      const { def, adopted } = await this.store.adoptFile(manifest, s.path);
      this.logger.info({ fileId: manifest.fileId, size, chunks: chunkHashes.length, adopted, hashMs: this.now() - started }, 'imported a local file');
      return { file: def, hash: contentHash!, adopted };
    } finally {
      // Adopted: the path was renamed away and this removes nothing.
      await fs.rm(s.path, { force: true });
    }
  }

  async abort(importId: string): Promise<{ aborted: boolean }> {
    const s = this.staged.get(importId);
    if (!s) return { aborted: false };
    this.staged.delete(importId);
    await fs.rm(s.path, { force: true });
    return { aborted: true };
  }

  private take(importId: string): Staged {
    const s = this.staged.get(importId);
    if (!s || s.expiresAt < this.now()) throw new SwarmError('NOT_FOUND', `import ${importId} is unknown here (never begun, committed already, or expired): share the file again`);
    this.staged.delete(importId);
    return s;
  }

  private async expire(): Promise<void> {
    const now = this.now();
    for (const [id, s] of this.staged) {
      if (s.expiresAt >= now) continue;
      this.staged.delete(id);
      await fs.rm(s.path, { force: true }).catch(() => undefined);
      this.logger.warn({ importId: id }, 'an import was not committed in time: deleted its staging file');
    }
  }
}
