/**
 * Quota and garbage collection (issue 14) against a real local swarm: GC by watermark evicts the
 * least recently used complete files, never the swarm's last copy nor a pinned one; GC by TTL evicts
 * an expired file whatever the watermarks and copies; pins outlive a restart; it is counted in
 * /metrics; and a share that would exceed the store's quota fails with NO_SPACE before any byte moves.
 */
import { execFile } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connect, type NatsConnection } from 'nats';
import { DownloadStatusSchema, FileRecordSchema, GcReportSchema, gatewaySubjects, NatsRpc, StoreStatsSchema, storeSubjects, SwarmError, TrackerSubjects } from '@swarmshare/common';
import { z } from 'zod';
import { LocalSwarm } from '../../cli/src/launcher/local-swarm';
import { REPO_ROOT } from '../../cli/src/launcher/service-process';
import type { FileListing } from '../../cli/src/commands/views';
import { waitFor } from '../support/wait';

const run = promisify(execFile);
const CLI = join(REPO_ROOT, 'cli', 'dist', 'main.js');
const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const lastLine = (s: string) => s.trim().split('\n').pop()!;

function cli(args: string[]) {
  return run(process.execPath, [CLI, '--nats', process.env.NATS_URL!, '--timeout', '20000', ...args], { maxBuffer: 16 * MiB, timeout: 120_000 });
}

describe('quota and garbage collection (issue 14)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ss-gc-'));
  const sfx = Math.random().toString(36).slice(2, 7);
  const [A, B] = ['a', 'b'].map((n) => `gc${n}-${sfx}`);
  let swarm: LocalSwarm;
  let nc: NatsConnection;
  let rpc: NatsRpc;

  async function share(name: string, size: number, node: string, ...extra: string[]): Promise<string> {
    const data = Buffer.allocUnsafe(size);
    randomFillSync(data);
    writeFileSync(join(dir, name), data);
    return lastLine((await cli(['share', join(dir, name), '--node', node, ...extra])).stdout);
  }
  /** What `ls --json` says of one file (undefined: not listed). */
  async function listed(fileId: string): Promise<FileListing | undefined> {
    return (JSON.parse((await cli(['ls', '--json'])).stdout) as FileListing[]).find((f) => f.fileId === fileId);
  }
  /** Every file the swarm knows, deleted: each test starts from empty stores. */
  async function clearSwarm(): Promise<void> {
    for (const f of JSON.parse((await cli(['ls', '--json'])).stdout) as FileListing[]) await cli(['rm', f.fileId, '--everywhere']);
    await waitFor('empty stores', async () => filesOn(A).length === 0 && filesOn(B).length === 0);
  }
  async function fetchOn(node: string, fileId: string): Promise<void> {
    await rpc.request(gatewaySubjects(node).fetch, { fileId }, DownloadStatusSchema);
    await waitFor(`download on ${node}`, async () => (await rpc.request(gatewaySubjects(node).status, { fileId }, DownloadStatusSchema)).state === 'complete');
  }
  const filesOn = (node: string) => readdirSync(join(swarm.node(node).spec.dataDir, 'files')).sort();

  beforeAll(async () => {
    swarm = await LocalSwarm.start({
      nodes: 2,
      nodeIds: [A, B],
      dataDir: dir,
      natsUrl: process.env.NATS_URL,
      redisUrl: process.env.REDIS_URL,
      // 40 MiB per store; GC above 50% (20 MiB) down to 20% (8 MiB), only on demand here.
      extraEnv: { ANNOUNCE_INTERVAL_MS: '500', PEER_TTL_MS: '5000', STORE_CAPACITY: '40MiB', GC_HIGH_WATERMARK: '50', GC_LOW_WATERMARK: '20', GC_INTERVAL_MS: '0' },
    });
    nc = await connect({ servers: process.env.NATS_URL });
    rpc = new NatsRpc(nc, 20_000);
    await waitFor('both nodes announced', async () => {
      const peers = await rpc.request(TrackerSubjects.listPeers, {}, z.array(z.object({ nodeId: z.string() })));
      return [A, B].every((n) => peers.some((p) => p.nodeId === n));
    });
  }, 120_000);

  afterAll(async () => {
    await nc?.drain();
    await swarm?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("gc --node: above the high watermark, evicts complete files least recently used first down to the low one, keeping the swarm's last copy", async () => {
    const only = await share('only-on-b.bin', 6 * MiB, B); // oldest on b, and b is its only holder
    await sleep(1100); // distinct data-file times: the LRU order without reads
    const f1 = await share('f1.bin', 8 * MiB, A);
    await fetchOn(B, f1);
    await sleep(1100);
    const f2 = await share('f2.bin', 8 * MiB, A);
    await fetchOn(B, f2);
    expect((await rpc.request(storeSubjects(B).stats, {}, StoreStatsSchema)).used).toBe(22 * MiB);
    await waitFor('a and b seed f1 and f2', async () => {
      const recs = await Promise.all([f1, f2].map((id) => rpc.request(TrackerSubjects.getFile, { fileId: id }, FileRecordSchema)));
      return recs.every((r) => r.seeders.length === 2);
    });

    const report = GcReportSchema.parse(JSON.parse((await cli(['gc', '--node', B, '--json'])).stdout));
    expect(report).toMatchObject({ nodeId: B, trigger: 'on-demand', capacity: 40 * MiB, high: 20 * MiB, low: 8 * MiB, usedBefore: 22 * MiB, usedAfter: 6 * MiB });
    expect(report.evicted.map((e) => e.fileId)).toEqual([f1, f2]);
    expect(report.kept).toEqual([{ fileId: only, reason: "the swarm's last complete copy" }]);
    expect(filesOn(B)).toEqual([only]);
    expect(filesOn(A)).toEqual([f1, f2].sort());
    // The tracker no longer lists b for what it evicted (the node announced after deleting).
    await waitFor('the tracker to drop b', async () => {
      const r = await rpc.request(TrackerSubjects.getFile, { fileId: f1 }, FileRecordSchema);
      return r.seeders.map((s) => s.nodeId).join() === A;
    });

    // Counted in the gateway's /metrics.
    const port = swarm.clusterFile().httpPorts[`${B}-peer-gateway`];
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(/^swarmshare_gc_runs_total\{[^}]*trigger="on-demand"[^}]*\} 1$/m);
    expect(metrics).toMatch(/^swarmshare_gc_files_evicted_total\{[^}]*reason="watermark"[^}]*\} 2$/m);
    expect(metrics).toMatch(new RegExp(`^swarmshare_gc_bytes_evicted_total\\{[^}]*reason="watermark"[^}]*\\} ${16 * MiB}$`, 'm'));

    // Below the high watermark now: a second run evicts nothing.
    const again = await rpc.request(`swarm.node.${B}.admin.gc`, {}, GcReportSchema);
    expect(again).toMatchObject({ usedBefore: 6 * MiB, usedAfter: 6 * MiB, evicted: [], kept: [] });
  }, 120_000);

  it('a share that would exceed the quota fails with NO_SPACE (exit 5) before any byte moves', async () => {
    const before = filesOn(A);
    const stats = await rpc.request(storeSubjects(A).stats, {}, StoreStatsSchema);
    const big = join(dir, 'too-big.bin');
    writeFileSync(big, Buffer.alloc(stats.free + MiB, 1));
    const refused = await cli(['share', big, '--node', A]).then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    expect(refused).not.toBeNull();
    expect(refused!.stderr).toMatch(/NO_SPACE: .*needs .* but this store has .* free/);
    expect(refused!.code).toBe(5);
    expect(filesOn(A)).toEqual(before);
    expect((await rpc.request(storeSubjects(A).stats, {}, StoreStatsSchema)).used).toBe(stats.used);
  }, 60_000);

  it("TTL: GC evicts an expired file below the watermark, even the swarm's last copy, and the tracker then forgets it", async () => {
    await clearSwarm();
    // One file that expires in an hour, one in a second: no test step has to beat a clock.
    const hour = await share('an-hour.bin', 1 * MiB, B, '--ttl', '1h');
    const t0 = Date.now();
    const short = await share('short-lived.bin', 2 * MiB, B, '--ttl', '1s');
    // ls: the expiry, and b as the one complete holder (not pinned).
    const entry = (await listed(short))!;
    expect(entry.expiresAt).toBeGreaterThanOrEqual(t0 + 1000);
    expect(entry.expiresAt).toBeLessThanOrEqual(Date.now() + 1000);
    expect(entry).toMatchObject({ holders: [{ nodeId: B, holds: 'complete', pinned: false }] });
    expect(await listed(hour)).toMatchObject({ expired: false, holders: [{ nodeId: B, holds: 'complete', pinned: false }] });
    const table = (await cli(['ls'])).stdout.split('\n');
    expect(table[0]).toMatch(/^ID\s+NAME\s+SIZE\s+CHUNKS\s+SEEDERS\s+PARTIAL\s+LEECHERS\s+REPLICAS\s+DOWNLOADS\s+EXPIRES\s+PINNED$/);
    expect(table.find((l) => l.startsWith(hour.slice(0, 16)))).toMatch(new RegExp(`an-hour\\.bin\\s+1\\.0 MiB\\s+1\\s+${B}\\s+-\\s+-\\s+-\\s+0\\s+in 5\\dm \\d+s\\s+-$`));
    await waitFor('the short TTL to pass', async () => Date.now() > entry.expiresAt! + 100, 10_000);
    expect(await listed(short)).toMatchObject({ expired: true });
    expect((await cli(['ls'])).stdout.split('\n').find((l) => l.startsWith(short.slice(0, 16)))).toMatch(/\s0\s+expired\s+-$/);

    const report = GcReportSchema.parse(JSON.parse((await cli(['gc', '--node', B, '--json'])).stdout));
    expect(report.usedBefore).toBeLessThan(report.high);
    expect(report.evicted).toEqual([{ fileId: short, name: 'short-lived.bin', bytes: 2 * MiB, reason: 'ttl' }]);
    expect(report.kept).toEqual([]);
    expect(filesOn(B)).toEqual([hour]);
    // No live peer holds it any more: the tracker forgets it (a tombstone answers a holder that was away).
    await waitFor('the tracker to forget the expired file', async () =>
      rpc.request(TrackerSubjects.getFile, { fileId: short }, FileRecordSchema).then(
        () => false,
        (e) => e instanceof SwarmError && e.code === 'NOT_FOUND',
      ),
    );
    expect(await listed(short)).toBeUndefined();
    const port = swarm.clusterFile().httpPorts[`${B}-peer-gateway`];
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(/^swarmshare_gc_files_evicted_total\{[^}]*reason="ttl"[^}]*\} 1$/m);
  }, 120_000);

  it('TTL: a holder that was down when the file expired deletes its copy when it comes back (the tracker forgot it with a tombstone)', async () => {
    await clearSwarm();
    const f = await share('expires-while-away.bin', 2 * MiB, A);
    await fetchOn(B, f);
    await waitFor('b seeds it', async () => (await rpc.request(TrackerSubjects.getFile, { fileId: f }, FileRecordSchema)).seeders.length === 2);
    await swarm.stopNode(B);
    // Sharing it again with --ttl sets the expiry of the registered file: no step races a clock.
    await cli(['share', join(dir, 'expires-while-away.bin'), '--node', A, '--ttl', '1s']);
    const { expiresAt } = await rpc.request(TrackerSubjects.getFile, { fileId: f }, FileRecordSchema);
    await waitFor('the TTL to pass and b to drop out of the live peers', async () => {
      if (Date.now() <= expiresAt! + 100) return false;
      return (await rpc.request(TrackerSubjects.getFile, { fileId: f }, FileRecordSchema)).seeders.every((s) => s.nodeId !== B);
    });
    const report = GcReportSchema.parse(JSON.parse((await cli(['gc', '--node', A, '--json'])).stdout));
    expect(report.evicted.map((e) => [e.fileId, e.reason])).toEqual([[f, 'ttl']]);
    await waitFor('the tracker to forget it', async () =>
      rpc.request(TrackerSubjects.getFile, { fileId: f }, FileRecordSchema).then(
        () => false,
        (e) => e instanceof SwarmError && e.code === 'NOT_FOUND',
      ),
    );
    expect(filesOn(B)).toEqual([f]);

    await swarm.startNode(B);
    await waitFor('b to delete its copy', async () => !filesOn(B).includes(f));
    // It did not register the file again.
    await expect(rpc.request(TrackerSubjects.getFile, { fileId: f }, FileRecordSchema)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  }, 180_000);

  it('pins: a pinned file survives watermark GC while an unpinned one is evicted, and the pin survives a restart of the node', async () => {
    await clearSwarm();
    const p1 = await share('pinned.bin', 12 * MiB, A);
    await fetchOn(B, p1);
    await sleep(1100); // distinct data-file times: p1 is the least recently used on b
    const p2 = await share('unpinned.bin', 12 * MiB, A);
    await fetchOn(B, p2);
    await waitFor('a and b seed both', async () => {
      const recs = await Promise.all([p1, p2].map((id) => rpc.request(TrackerSubjects.getFile, { fileId: id }, FileRecordSchema)));
      return recs.every((r) => r.seeders.length === 2);
    });

    // By a prefix, as a user types it; the CLI's admin user may call the node's admin subject.
    const pinned = await cli(['pin', p1.slice(0, 12), '--node', B, '--json']);
    expect(JSON.parse(pinned.stdout)).toEqual({ nodeId: B, fileId: p1, pinned: true });
    expect(existsSync(join(swarm.node(B).spec.dataDir, 'files', p1, 'pinned'))).toBe(true);

    await swarm.stopNode(B);
    await swarm.startNode(B);
    await waitFor('b back as a seeder of both', async () => {
      const recs = await Promise.all([p1, p2].map((id) => rpc.request(TrackerSubjects.getFile, { fileId: id }, FileRecordSchema)));
      return recs.every((r) => r.seeders.some((s) => s.nodeId === B));
    });
    expect(await listed(p1)).toMatchObject({ holders: expect.arrayContaining([{ nodeId: A, holds: 'complete', pinned: false }, { nodeId: B, holds: 'complete', pinned: true }]) });
    expect((await cli(['ls'])).stdout.split('\n').find((l) => l.startsWith(p1.slice(0, 16)))).toMatch(new RegExp(`\\s-\\s+${B}$`));

    // 24 MiB on b, above the 20 MiB high watermark: p1 (least recently used) is pinned, so p2 goes.
    const report = GcReportSchema.parse(JSON.parse((await cli(['gc', '--node', B, '--json'])).stdout));
    expect(report).toMatchObject({ usedBefore: 24 * MiB, usedAfter: 12 * MiB });
    expect(report.evicted).toEqual([{ fileId: p2, name: 'unpinned.bin', bytes: 12 * MiB, reason: 'watermark' }]);
    expect(report.kept).toEqual([{ fileId: p1, reason: 'pinned on this node' }]);
    expect(filesOn(B)).toEqual([p1]);

    // unpin clears it (marker and listing); pinning a file the node does not hold says so.
    expect(JSON.parse((await cli(['unpin', p1, '--node', B, '--json'])).stdout)).toEqual({ nodeId: B, fileId: p1, pinned: false });
    expect(existsSync(join(swarm.node(B).spec.dataDir, 'files', p1, 'pinned'))).toBe(false);
    expect(await listed(p1)).toMatchObject({ holders: expect.arrayContaining([{ nodeId: B, holds: 'complete', pinned: false }]) });
    const refused = await cli(['pin', p2, '--node', B]).then(
      () => null,
      (e: { stderr: string }) => e,
    );
    expect(refused?.stderr).toMatch(/NOT_FOUND: file \S+ is not in this store/);
  }, 180_000);

  it('share refuses a bad --ttl with a clear message (usage error, exit 2) before any byte moves', async () => {
    const path = join(dir, 'bad-ttl.bin');
    writeFileSync(path, Buffer.alloc(MiB, 7));
    const before = filesOn(A);
    for (const [ttl, message] of [
      ['24', /"24" is not a duration; write a number with a unit: s, m, h, d or w \(e\.g\. 90s, 30m, 24h, 7d, 1h30m\)/],
      ['tomorrow', /"tomorrow" is not a duration/],
      ['0s', /--ttl 0s is out of range: a file's TTL is from 1s to 3650d/],
    ] as const) {
      const r = await cli(['share', path, '--node', A, '--ttl', ttl]).then(
        () => null,
        (e: { code: number; stderr: string }) => e,
      );
      expect(r?.code).toBe(2);
      expect(r?.stderr).toMatch(message);
    }
    expect(filesOn(A)).toEqual(before);
  }, 60_000);
});
