import { execFile, execFileSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, openSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync, writeSync, closeSync, readSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connect, type NatsConnection } from 'nats';
import {
  FileLayoutSchema,
  FileRecordSchema,
  ImportBeginReplySchema,
  ImportCommitReplySchema,
  NatsRpc,
  sha256Hex,
  storeSubjects,
  TrackerSubjects,
} from '@swarmshare/common';
import { LocalSwarm } from '../../cli/src/launcher/local-swarm';
import { REPO_ROOT } from '../../cli/src/launcher/service-process';

const run = promisify(execFile);
const CLI = join(REPO_ROOT, 'cli', 'dist', 'main.js');
const MiB = 1024 * 1024;

type Result = { stdout: string; stderr: string; code: number };
/** The swarmshare command exactly as a user runs it; a failure's exit code is returned, not thrown. */
async function cli(args: string[]): Promise<Result> {
  try {
    const r = await run(process.execPath, [CLI, '--nats', process.env.NATS_URL!, ...args], { maxBuffer: 64 * MiB, timeout: 180_000 });
    return { ...r, code: 0 };
  } catch (e) {
    const err = e as Result;
    return { stdout: err.stdout, stderr: err.stderr, code: err.code };
  }
}

/** The last stdout line as JSON (share --json, fetch --json). */
function lastJson<T>(r: Result): T {
  if (r.code !== 0) throw new Error(`command failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as T;
}

/** Flip one byte of a file in place; returns a function that puts it back. */
function flipByte(path: string, pos: number): () => void {
  const fd = openSync(path, 'r+');
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, pos);
  const original = b[0];
  writeSync(fd, Buffer.from([original ^ 0xff]), 0, 1, pos);
  closeSync(fd);
  return () => {
    const fd2 = openSync(path, 'r+');
    writeSync(fd2, Buffer.from([original]), 0, 1, pos);
    closeSync(fd2);
  };
}

const isRoot = process.getuid?.() === 0;

describe('the user path: share imports locally, fetch -o copies in the kernel or streams once', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ss-path-'));
  const suffix = Math.random().toString(36).slice(2, 8);
  const A = `path-a-${suffix}`;
  const B = `path-b-${suffix}`;
  // Above the hasher's inline limit, so the threads split the work.
  const data = Buffer.allocUnsafe(40 * MiB + 12345);
  randomFillSync(data);
  const input = join(dir, 'input.bin');
  let swarm: LocalSwarm;
  let nc: NatsConnection;
  let rpc: NatsRpc;
  let fileId: string;
  /** A second filesystem (tmpfs), for the streaming export; mounted only as root. */
  let otherFs: string | undefined;

  beforeAll(async () => {
    writeFileSync(input, data);
    swarm = await LocalSwarm.start({ nodes: 2, nodeIds: [A, B], dataDir: dir, natsUrl: process.env.NATS_URL, redisUrl: process.env.REDIS_URL, extraEnv: { ANNOUNCE_INTERVAL_MS: '500' } });
    nc = await connect({ servers: process.env.NATS_URL });
    rpc = new NatsRpc(nc, 10_000);
    if (isRoot) {
      otherFs = mkdtempSync(join(tmpdir(), 'ss-otherfs-'));
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=128m', 'tmpfs', otherFs]);
    }
  });

  afterAll(async () => {
    if (otherFs) {
      execFileSync('umount', [otherFs]);
      rmSync(otherFs, { recursive: true, force: true });
    }
    await nc?.drain();
    await swarm?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('share imports the file into the store by an in-kernel copy; the store hashes it once and seeds its own copy', async () => {
    const summary = lastJson<{ fileId: string; chunkSize: number; chunkCount: number; sharedBy: string }>(await cli(['share', input, '--node', A, '--json']));
    fileId = summary.fileId;
    expect(summary).toMatchObject({ sharedBy: 'import', chunkSize: MiB, chunkCount: 41 });
    const record = await rpc.request(TrackerSubjects.getFile, { fileId }, FileRecordSchema);
    expect(record).toMatchObject({ size: data.length, hash: sha256Hex(data), chunkCount: 41 });
    const layout = await rpc.request(storeSubjects(A).layout, { fileId }, FileLayoutSchema);
    expect(layout.present).toBe(41);
    // Its own copy: never the user's inode.
    expect(statSync(layout.path).ino).not.toBe(statSync(input).ino);
    expect(readFileSync(layout.path).equals(data)).toBe(true);
    // No staging file is left behind.
    expect(readdirSync(join(dir, 'nodes', A, 'imports'))).toEqual([]);
  });

  it('fetch -o on the store filesystem copies in the kernel (never a hard link) and checks the copy', async () => {
    const out = join(dir, 'copy.out');
    const s = lastJson<{ exportedBy: string; bytesReceived: number }>(await cli(['fetch', fileId, '--node', B, '-o', out, '--json']));
    expect(s).toMatchObject({ exportedBy: 'copy', bytesReceived: data.length });
    expect(readFileSync(out).equals(data)).toBe(true);
    const layout = await rpc.request(storeSubjects(B).layout, { fileId }, FileLayoutSchema);
    expect(statSync(out).ino).not.toBe(statSync(layout.path).ino);
    expect(statSync(layout.path).nlink).toBe(1);
    expect(existsSync(`${out}.partial`)).toBe(false);
  });

  it('fetch -o --stream reads, hashes and writes the chunks in one pass', async () => {
    const out = join(dir, 'stream.out');
    const s = lastJson<{ exportedBy: string; alreadyHeld: boolean }>(await cli(['fetch', fileId, '--node', B, '-o', out, '--stream', '--json']));
    expect(s).toMatchObject({ exportedBy: 'local-stream', alreadyHeld: true });
    expect(readFileSync(out).equals(data)).toBe(true);
  });

  (isRoot ? it : it.skip)('fetch -o onto another filesystem (a second tmpfs) streams', async () => {
    const out = join(otherFs!, 'other.out');
    const s = lastJson<{ exportedBy: string }>(await cli(['fetch', fileId, '--node', B, '-o', out, '--json']));
    expect(s.exportedBy).toBe('local-stream');
    expect(readFileSync(out).equals(data)).toBe(true);
  });

  it('a damaged store copy is caught by the export, by copy and by stream: the node repairs it from the swarm first (issue 12), and OUT is byte-identical', async () => {
    const layout = await rpc.request(storeSubjects(B).layout, { fileId }, FileLayoutSchema);
    for (const extra of [[], ['--stream']]) {
      flipByte(layout.path, 7 * MiB + 3); // damaged again each time: the repair rewrote it
      const out = join(dir, `bad${extra.length}.out`);
      const r = await cli(['fetch', fileId, '--node', B, '-o', out, ...extra]);
      expect({ code: r.code, named: /chunk 7 .* does not match its hash/.test(r.stderr), repaired: /found 1 corrupt chunk\(s\) \(7\)/.test(r.stderr) }).toEqual({ code: 0, named: true, repaired: true });
      expect(readFileSync(out).equals(data)).toBe(true);
      expect(existsSync(`${out}.partial`)).toBe(false);
    }
  });

  it('the store reads only its own staging files: an unknown import and a staging file swapped for a link are refused', async () => {
    const s = storeSubjects(A);
    await expect(rpc.request(s.importCommit, { importId: '0'.repeat(32), name: 'x.bin' }, ImportCommitReplySchema)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const secret = join(dir, 'secret.bin');
    writeFileSync(secret, 'not yours');
    const begin = await rpc.request(s.importBegin, { size: 9 }, ImportBeginReplySchema);
    unlinkSync(begin.path);
    symlinkSync(secret, begin.path);
    await expect(rpc.request(s.importCommit, { importId: begin.importId, name: 'secret.bin' }, ImportCommitReplySchema)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    // A committed (or refused) import is gone: a second commit is unknown.
    await expect(rpc.request(s.importCommit, { importId: begin.importId, name: 'secret.bin' }, ImportCommitReplySchema)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    // A staging file that was not filled as announced is refused too.
    const short = await rpc.request(s.importBegin, { size: 100 }, ImportBeginReplySchema);
    await expect(rpc.request(s.importCommit, { importId: short.importId, name: 'short.bin' }, ImportCommitReplySchema)).rejects.toMatchObject({ code: 'BAD_LENGTH' });
    expect(existsSync(short.path)).toBe(false);
  });
});
