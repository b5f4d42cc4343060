import { z } from 'zod';
import { ChunkSizeSchema, FileNameSchema, Sha256HexSchema, TFileDefSchema } from './schemas';

/**
 * Import of a file that is on the store's own host (docs/protocol.md, "Local import"): the store
 * hands out a staging file in its data directory, the CLI fills it with an in-kernel copy
 * (reflink or copy_file_range) under its own permissions, and on commit the store hashes the bytes
 * it now holds, once, and adopts the staging file as the file's data. The store never reads a path
 * a caller names.
 */
export const ImportBeginRequestSchema = z.object({ size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER) }).strict();
export const ImportIdSchema = z.string().regex(/^[0-9a-f]{32}$/, 'import id must be 32 lowercase hex characters');
export const ImportBeginReplySchema = z.object({ importId: ImportIdSchema, path: z.string().min(1), expiresAt: z.number().int() });
export type ImportBeginReply = z.infer<typeof ImportBeginReplySchema>;
export const ImportCommitRequestSchema = z
  .object({
    importId: ImportIdSchema,
    name: FileNameSchema,
    /** Unset: the store picks it from the size (chunkSizeFor). */
    chunkSize: ChunkSizeSchema.optional(),
  })
  .strict();
export const ImportCommitReplySchema = z.object({
  file: TFileDefSchema,
  /** SHA-256 of the whole content, computed by the store from its copy (the tracker's `hash`). */
  hash: Sha256HexSchema,
  /** false: the store already held this file id; the staged copy was dropped. */
  adopted: z.boolean(),
});
export type ImportCommitReply = z.infer<typeof ImportCommitReplySchema>;
export const ImportAbortRequestSchema = z.object({ importId: ImportIdSchema }).strict();
