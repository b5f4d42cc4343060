import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { promisify } from 'node:util';
import { SwarmError } from '../errors';
import { formatBytes } from '../sizes';

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

function noSpace(path: string, size: number): SwarmError {
  return new SwarmError('NO_SPACE', `not enough disk space to allocate ${formatBytes(size)} for ${path}: free space on the data volume or lower STORE_CAPACITY`);
}

/** Bytes free on the filesystem holding `dir`. */
export async function diskFree(dir: string): Promise<number> {
  const s = await fs.statfs(dir);
  return Number(s.bavail) * Number(s.bsize);
}
