import { execFile } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Redis from 'ioredis';
import { type FileRecord, FileRecordSchema, redisTlsOptions, SwarmError, TrackerSubjects, sha256Hex } from '@swarmshare/common';
import { REPO_ROOT } from '../../cli/src/launcher/service-process';
import { ownSwarm } from '../support/own-swarm';

/**
 * Issue 12, fault 3: the tracker's registry is rebuilt from the nodes after Redis loses its data.
 * A whole local swarm with its own nats-server and redis-server (FLUSHALL must not touch the Redis
 * other tests share): after FLUSHALL the file is listed again, with its name, hash and seeders,
 * within a few announce intervals, and a node that never had it fetches it byte-identical.
 */
const run = promisify(execFile);
const CLI = join(REPO_ROOT, 'cli', 'dist', 'main.js');
const ANNOUNCE_MS = 500;
const REBUILD_BOUND_MS = 10_000;

describe('the tracker rebuilds its registry from the nodes after Redis loses its data', () => {
  const own = ownSwarm('ss-rebuild-', { nodes: 3, extraEnv: { ANNOUNCE_INTERVAL_MS: String(ANNOUNCE_MS) } });

  const cli = (...args: string[]) => run(process.execPath, [CLI, ...args, '--nats', own.swarm.urls.natsUrl, '--data', own.swarm.dataDir], { timeout: 120_000 });
  const getFile = (fileId: string) => own.rpc.request(TrackerSubjects.getFile, { fileId }, FileRecordSchema);

  it('after FLUSHALL, the file is registered again with its facts, and fetch works', async () => {
    const data = Buffer.allocUnsafe(6 * 1024 * 1024 + 777);
    randomFillSync(data);
    const input = join(own.dir, 'rebuilt.bin');
    writeFileSync(input, data);
    const fileId = (await cli('share', input, '--node', 'a')).stdout.trim().split('\n').pop()!;
    await cli('fetch', fileId, '--node', 'b', '-o', join(own.dir, 'on-b.bin'));
    const before = await getFile(fileId);
    expect(before.seeders.map((s) => s.nodeId).sort()).toEqual(['a', 'b']);

    const redis = new Redis(own.swarm.urls.redisUrl, redisTlsOptions(own.swarm.urls.redisUrl, own.swarm.redisCa));
    await redis.flushall();
    await redis.quit();
    await expect(getFile(fileId)).rejects.toMatchObject({ code: 'NOT_FOUND' });

    const t0 = Date.now();
    let after: FileRecord | undefined;
    while (Date.now() - t0 < REBUILD_BOUND_MS) {
      after = await getFile(fileId).catch((e: unknown) => {
        if (e instanceof SwarmError && e.code === 'NOT_FOUND') return undefined;
        throw e;
      });
      if (after && after.seeders.length === 2) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(after).toBeDefined();
    process.stdout.write(`registry rebuilt ${Date.now() - t0} ms after FLUSHALL (announce every ${ANNOUNCE_MS} ms)\n`);
    expect({ name: after!.name, size: after!.size, chunkSize: after!.chunkSize, chunkCount: after!.chunkCount, hash: after!.hash }).toEqual({
      name: 'rebuilt.bin',
      size: data.length,
      chunkSize: before.chunkSize,
      chunkCount: before.chunkCount,
      hash: sha256Hex(data),
    });
    expect(after!.seeders.map((s) => s.nodeId).sort()).toEqual(['a', 'b']);

    expect((await cli('ls')).stdout).toContain('rebuilt.bin');
    const out = join(own.dir, 'on-c.bin');
    await cli('fetch', fileId, '--node', 'c', '-o', out);
    expect(sha256Hex(readFileSync(out))).toBe(sha256Hex(data));
  });
});
