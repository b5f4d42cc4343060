import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { promisify } from 'node:util';
import { SwarmError } from '../errors';
import { formatBytes } from '../sizes';
import type { ByteRange } from './chunk-runs';

const run = promisify(execFile);

/**
 * Reserve real disk blocks for a file before it is mapped, so that a full disk is an error here
 * and never a SIGBUS on a later write through the mapping. Uses fallocate(1); where the filesystem
 * does not support it, writes zeros. Existing content below `size` is left untouched.
 */
export async function preallocate(path: string, size: number): Promise<void> {
  const fh = await fs.open(path, 'a+');
  await fh.close();
  if (size === 0) return;
  try {
    await run('fallocate', ['-l', String(size), path]);
    return;
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? '');
    if (/No space left/i.test(stderr)) throw noSpace(path, size);
    // fallocate missing or unsupported here: fall through to writing zeros.
  }
  const fh2 = await fs.open(path, 'r+');
  try {
    const { size: have } = await fh2.stat();
    const block = Buffer.alloc(1024 * 1024);
    for (let pos = have; pos < size; pos += block.length) {
      await fh2.write(block, 0, Math.min(block.length, size - pos), pos);
    }
    await fh2.sync();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOSPC') throw noSpace(path, size);
    throw err;
  } finally {
    await fh2.close();
  }
}

/**
 * fallocate(1) over each (offset, length) pair given after the path, in one shell: a share split
 * over many runs of chunks (placement interleaves them) costs one process spawn from Node, not one
 * per run, which under load took seconds. The arguments are positional, never parsed as shell text.
 */
const FALLOCATE_RUNS = 'f=$1; shift; while [ $# -gt 1 ]; do fallocate -o "$1" -l "$2" "$f" || exit $?; shift 2; done';

/**
 * A sparse data file of `size` bytes with real blocks only over `ranges` (a partial replica's
 * share, see chunkRuns): ftruncate makes the file its full size without using space (so a mapping
 * of any chunk stays inside the file), then fallocate reserves the blocks of each range (all
 * ranges in one process). A write through a mapping into a hole could SIGBUS on a full disk, so no
 * chunk outside `ranges` may be written until it is allocated too. Existing content and blocks are
 * left untouched (fallocate of an allocated range is a no-op); ranges allocated before a NO_SPACE
 * stay allocated, and the caller records only what it asked for once all succeeded.
 */
export async function allocateRanges(path: string, size: number, ranges: ByteRange[]): Promise<void> {
  const fh = await fs.open(path, 'a+');
  try {
    if ((await fh.stat()).size < size) await fh.truncate(size);
  } finally {
    await fh.close();
  }
  const runs = ranges.filter((r) => r.length > 0);
  if (runs.length === 0) return;
  try {
    await run('sh', ['-c', FALLOCATE_RUNS, 'fallocate-runs', path, ...runs.flatMap((r) => [String(r.offset), String(r.length)])]);
    return;
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? '');
    if (/No space left/i.test(stderr)) throw noSpace(path, runs.reduce((n, r) => n + r.length, 0));
    // fallocate missing or unsupported here: fall through to writing zeros over the ranges, which
    // hold no chunk yet (only unallocated chunks are asked for, and those were never written).
  }
  for (const r of runs) await writeZeros(path, r, size);
}

async function writeZeros(path: string, r: ByteRange, size: number): Promise<void> {
  const fh = await fs.open(path, 'r+');
  try {
    const block = Buffer.alloc(Math.min(1024 * 1024, r.length));
    const end = Math.min(r.offset + r.length, size);
    for (let pos = r.offset; pos < end; pos += block.length) {
      await fh.write(block, 0, Math.min(block.length, end - pos), pos);
    }
    await fh.sync();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOSPC') throw noSpace(path, r.length);
    throw err;
  } finally {
    await fh.close();
  }
}

function noSpace(path: string, size: number): SwarmError {
  return new SwarmError('NO_SPACE', `not enough disk space to allocate ${formatBytes(size)} for ${path}: free space on the data volume or lower STORE_CAPACITY`);
}

/** Bytes free on the filesystem holding `dir`. */
export async function diskFree(dir: string): Promise<number> {
  const s = await fs.statfs(dir);
  return Number(s.bavail) * Number(s.bsize);
}
