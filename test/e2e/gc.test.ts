/**
 * Quota and garbage collection (issue 14) against a real local swarm: GC by watermark evicts the
 * least recently used complete files, never the swarm's last copy; it is counted in /metrics; and a
 * share that would exceed the store's quota fails with NO_SPACE before any byte moves.
 */
import { execFile } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connect, type NatsConnection } from 'nats';
import { DownloadStatusSchema, FileRecordSchema, GcReportSchema, gatewaySubjects, NatsRpc, StoreStatsSchema, storeSubjects, TrackerSubjects } from '@swarmshare/common';
import { z } from 'zod';
import { LocalSwarm } from '../../cli/src/launcher/local-swarm';
import { REPO_ROOT } from '../../cli/src/launcher/service-process';
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

  async function share(name: string, size: number, node: string): Promise<string> {
    const data = Buffer.allocUnsafe(size);
    randomFillSync(data);
    writeFileSync(join(dir, name), data);
    return lastLine((await cli(['share', join(dir, name), '--node', node])).stdout);
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
});
