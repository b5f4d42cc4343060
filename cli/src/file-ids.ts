import { FileRecordSchema, SwarmError, TrackerSubjects } from '@swarmshare/common/contracts';
import { z } from 'zod';
import type { CliContext } from './context';
import { table } from './table';

/** The shortest prefix of a file id the CLI takes, as git and docker take short ids. */
export const MIN_ID_PREFIX = 8;
/** Candidates listed for an ambiguous prefix (the rest are counted). */
const MAX_LISTED = 10;

/** A full id as is; else whether the text can be a prefix at all (a clear error when not). */
export function parseIdOrPrefix(input: string): { full: string } | { prefix: string } {
  const id = input.trim().toLowerCase();
  if (/^[0-9a-f]{64}$/.test(id)) return { full: id };
  if (new RegExp(`^[0-9a-f]{${MIN_ID_PREFIX},63}$`).test(id)) return { prefix: id };
  throw new SwarmError(
    'BAD_REQUEST',
    `"${input}" is not a file id: a file id must be 64 lowercase hex characters, or a unique prefix of at least ${MIN_ID_PREFIX} of them (\`swarmshare ls\` lists the files)`,
  );
}

/** Pick the one id that starts with `prefix`; none or several is an error that says which. */
export function matchPrefix(prefix: string, files: ReadonlyArray<{ fileId: string; name: string }>): string {
  const hits = files.filter((f) => f.fileId.startsWith(prefix));
  if (hits.length === 1) return hits[0].fileId;
  if (hits.length === 0) throw new SwarmError('NOT_FOUND', `no file id starts with ${prefix}: \`swarmshare ls\` lists the files`);
  const rows = hits.slice(0, MAX_LISTED).map((f) => [f.fileId, f.name]);
  const more = hits.length > MAX_LISTED ? `\n  ... and ${hits.length - MAX_LISTED} more` : '';
  const list = table(['ID', 'NAME'], rows).replace(/^/gm, '  ');
  throw new SwarmError('BAD_REQUEST', `file id ${prefix} is ambiguous: ${hits.length} files start with it; give more characters:\n${list}${more}`);
}

/** Resolve what the user typed to a full file id; a prefix is looked up in the tracker's file list. */
export async function resolveFileId(ctx: CliContext, input: string): Promise<string> {
  const parsed = parseIdOrPrefix(input);
  if ('full' in parsed) return parsed.full;
  const files = await ctx.rpc.request(TrackerSubjects.listFiles, {}, z.array(FileRecordSchema)).catch((e: unknown) => {
    const code = (e as SwarmError).code;
    if (code === 'UNAVAILABLE' || code === 'TIMEOUT') {
      throw new SwarmError('UNAVAILABLE', `the short id ${parsed.prefix} needs the tracker to look it up, and the tracker does not answer: give the full 64-character file id`);
    }
    throw e;
  });
  return matchPrefix(parsed.prefix, files);
}
