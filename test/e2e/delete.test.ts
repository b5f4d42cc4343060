/**
 * Deleting files (issue 14) against a real local swarm: `swarmshare rm --node` during a download,
 * during a replicated upload and during reads, and `rm --everywhere` with one holder down that
 * converges when it returns.
 */
import { execFile } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connect, type NatsConnection } from 'nats';
import {
  type DownloadStatus,
  DeleteFileReplySchema,
  DownloadStatusSchema,
  FileRecordSchema,
  GatewayInfoSchema,
  HaveReplySchema,
  ManifestSchema,
  NatsRpc,
  PeerClient,
  loadPeerTls,
  PeerRequestError,
  ReplicateStatusSchema,
  ReservationSchema,
  gatewaySubjects,
  sha256Hex,
  storeSubjects,
  TrackerSubjects,
} from '@swarmshare/common';
import { z } from 'zod';
import { LocalSwarm } from '../../cli/src/launcher/local-swarm';
import { ensureSwarmPki } from '../../cli/src/launcher/peer-pki';
import { REPO_ROOT } from '../../cli/src/launcher/service-process';
import { waitFor } from '../support/wait';

const run = promisify(execFile);
const CLI = join(REPO_ROOT, 'cli', 'dist', 'main.js');
const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const lastLine = (s: string) => s.trim().split('\n').pop()!;

async function cli(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [CLI, '--nats', process.env.NATS_URL!, '--timeout', '20000', ...args], { maxBuffer: 64 * MiB, timeout: 120_000 });
}

describe('swarmshare rm (issue 14)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ss-rm-'));
  const sfx = Math.random().toString(36).slice(2, 7);
  const [A, B, C, D] = ['a', 'b', 'c', 'd'].map((n) => `rm${n}-${sfx}`);
  let swarm: LocalSwarm;
  let nc: NatsConnection;
  let rpc: NatsRpc;

  const status = (node: string, fileId: string) => rpc.request(gatewaySubjects(node).status, { fileId }, DownloadStatusSchema);
  const fetchOn = (node: string, fileId: string) => rpc.request(gatewaySubjects(node).fetch, { fileId }, DownloadStatusSchema);
  const getFile = (fileId: string) => rpc.request(TrackerSubjects.getFile, { fileId }, FileRecordSchema);
  const fileDir = (node: string, fileId: string) => join(swarm.node(node).spec.dataDir, 'files', fileId);
  /** The store's answer for the file: its present-chunk count, or NOT_FOUND. */
  async function held(node: string, fileId: string): Promise<number | 'NOT_FOUND'> {
    try {
      return (await rpc.request(storeSubjects(node).have, { fileId }, HaveReplySchema)).present;
    } catch (e) {
      if ((e as { code?: string }).code === 'NOT_FOUND') return 'NOT_FOUND';
      throw e;
    }
  }
  async function waitDownload(node: string, fileId: string): Promise<DownloadStatus> {
    return waitFor(`download on ${node}`, async () => {
      const s = await status(node, fileId);
      return s.state === 'complete' || s.state === 'failed' ? s : undefined;
    }, 60_000);
  }
  const members = (r: z.infer<typeof FileRecordSchema>) => [...r.seeders, ...r.leechers, ...(r.partial ?? [])].map((p) => p.nodeId);

  function randomFile(name: string, size: number): { path: string; data: Buffer } {
    const data = Buffer.allocUnsafe(size);
    randomFillSync(data);
    const path = join(dir, name);
    writeFileSync(path, data);
    return { path, data };
  }
  async function share(name: string, size: number, node: string, chunkSize = '256KiB') {
    const f = randomFile(name, size);
    const fileId = lastLine((await cli(['share', f.path, '--node', node, '--chunk-size', chunkSize])).stdout);
    return { ...f, fileId };
  }

  beforeAll(async () => {
    swarm = await LocalSwarm.start({
      nodes: 4,
      nodeIds: [A, B, C, D],
      dataDir: dir,
      natsUrl: process.env.NATS_URL,
      redisUrl: process.env.REDIS_URL,
      // Downloads are slowed so a delete lands in the middle of one.
      extraEnv: { ANNOUNCE_INTERVAL_MS: '500', PEER_TTL_MS: '5000', DOWNLOAD_RATE_LIMIT: '4MiB' },
    });
    nc = await connect({ servers: process.env.NATS_URL });
    rpc = new NatsRpc(nc, 20_000);
    await waitFor('all nodes announced', async () => {
      const peers = await rpc.request(TrackerSubjects.listPeers, {}, z.array(z.object({ nodeId: z.string() })));
      return [A, B, C, D].every((n) => peers.some((p) => p.nodeId === n));
    });
  }, 120_000);

  afterAll(async () => {
    await nc?.drain();
    await swarm?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  let shared: { fileId: string; data: Buffer };

  it('rm --node during a download cancels it cleanly (CANCELLED, nothing left on disk or in the tracker); a new fetch then works', async () => {
    shared = await share('during-download.bin', 16 * MiB + 123, A);
    await fetchOn(B, shared.fileId);
    await waitFor('the download on b to be under way', async () => {
      const s = await status(B, shared.fileId);
      return s.state === 'running' && s.chunksDone > 0;
    });
    // The NATS subject `rm` uses (starting the CLI process can take longer than the download here).
    const reply = await rpc.request(TrackerSubjects.deleteFile, { fileId: shared.fileId, nodeId: B }, DeleteFileReplySchema);
    expect(reply).toEqual({ fileId: shared.fileId, everywhere: false, tombstone: false, nodes: [{ nodeId: B, deleted: true, bytes: shared.data.length, cancelled: 1 }] });

    const s = await status(B, shared.fileId);
    expect(s).toMatchObject({ state: 'failed', errorCode: 'CANCELLED' });
    expect(s.error).toMatch(/deleted from node/);
    expect(await held(B, shared.fileId)).toBe('NOT_FOUND');
    expect(existsSync(fileDir(B, shared.fileId))).toBe(false);
    // The tracker's view changed at once, without waiting for an announce.
    expect(members(await getFile(shared.fileId))).toEqual([A]);

    // No lock or cache of the deleted file is left: the same node fetches it again, whole and correct.
    await fetchOn(B, shared.fileId);
    expect(await waitDownload(B, shared.fileId)).toMatchObject({ state: 'complete' });
    expect(sha256Hex(readFileSync(join(fileDir(B, shared.fileId), 'data')).subarray(0, shared.data.length))).toBe(sha256Hex(shared.data));
  }, 120_000);

  it('rm --node during reads: reads in flight end with NOT_FOUND, not a crash, and the gateway keeps serving', async () => {
    const manifest = await rpc.request(storeSubjects(B).manifest, { fileId: shared.fileId }, ManifestSchema);
    // A client of the swarm, as the CLI is: over peer TLS with a certificate from the swarm's CA.
    const tls = loadPeerTls((await ensureSwarmPki(swarm.dataDir, ['cli-local']))['cli-local']);
    const client = await PeerClient.connect(swarm.node(B).spec.advertiseAddress, { tls });
    try {
      expect(sha256Hex(await client.requestChunk(manifest, 0))).toBe(manifest.hashes[0]);
      // Reads racing the delete: each one either gets the verified bytes or a clear NOT_FOUND.
      const racing = Array.from({ length: manifest.hashes.length - 1 }, (_, i) => client.requestChunk(manifest, i + 1));
      const out = await cli(['rm', shared.fileId.slice(0, 12), '--node', B]);
      expect(lastLine(out.stdout)).toBe(shared.fileId);
      expect(out.stderr).toMatch(new RegExp(`node ${B}: deleted, 16.0 MiB freed`));
      for (const r of await Promise.allSettled(racing)) {
        if (r.status === 'fulfilled') continue;
        expect(r.reason).toBeInstanceOf(PeerRequestError);
        expect((r.reason as PeerRequestError).code).toBe('NOT_FOUND');
      }
      const after = await client.requestChunk(manifest, 0).then(
        () => 'served',
        (e: unknown) => e,
      );
      expect(after).toBeInstanceOf(PeerRequestError);
      expect((after as PeerRequestError).code).toBe('NOT_FOUND');
      expect((after as Error).message).toMatch(/not (in this store|present on this node)/);
    } finally {
      await client.close();
    }
    expect(swarm.node(B).gateway.proc.exitCode).toBeNull();
    expect((await rpc.request(gatewaySubjects(B).info, {}, GatewayInfoSchema)).nodeId).toBe(B);
  }, 60_000);

  it('rm --node on the seeder during a replicated upload cancels the upload and releases its reservations', async () => {
    // Small chunks, one STORE in flight: the upload takes long enough to be caught running.
    const f = await share('during-replication.bin', 24 * MiB, C, '64KiB');
    const first = await rpc.request(gatewaySubjects(C).replicate, { fileId: f.fileId, hash: sha256Hex(f.data), replicas: 1, allocation: [{ nodeId: D, bytes: 64 * MiB }] }, ReplicateStatusSchema);
    const repl = (uploadId: string) => rpc.request(gatewaySubjects(C).replicateStatus, { uploadId }, ReplicateStatusSchema);
    await waitFor('some copies acked', async () => {
      const s = await repl(first.uploadId);
      return s.copiesAcked > 0;
    });
    const before = await repl(first.uploadId);
    expect(before.state).toBe('running');
    await cli(['rm', f.fileId, '--node', C]);
    const s = await waitFor('the upload to end', async () => {
      const x = await repl(first.uploadId);
      return x.state !== 'running' ? x : undefined;
    });
    expect(s.state).toBe('failed');
    expect(s.error).toMatch(/deleted from node/);
    expect(await held(C, f.fileId)).toBe('NOT_FOUND');
    const resv = await rpc.request(TrackerSubjects.listReservations, {}, z.array(ReservationSchema));
    expect(resv.filter((r) => r.uploadId === first.uploadId)).toEqual([]);
  }, 60_000);

  it('rm --everywhere with one holder down: the others delete at once, the tracker forgets it at once, and the returning holder deletes its copy', async () => {
    const f = await share('everywhere.bin', 4 * MiB + 7, A);
    for (const n of [B, D]) {
      await fetchOn(n, f.fileId);
      expect(await waitDownload(n, f.fileId)).toMatchObject({ state: 'complete' });
    }
    await waitFor('b and d listed as seeders', async () => {
      const r = await getFile(f.fileId);
      return [B, D].every((n) => r.seeders.some((s) => s.nodeId === n));
    });
    await swarm.stopNode(D);

    const out = await cli(['rm', f.fileId, '--everywhere', '--json']);
    const reply = JSON.parse(out.stdout) as { tombstone: boolean; nodes: Array<{ nodeId: string; deleted: boolean; error?: string }> };
    expect(reply.tombstone).toBe(true);
    const byNode = Object.fromEntries(reply.nodes.map((n) => [n.nodeId, n]));
    expect(byNode[A]).toMatchObject({ deleted: true });
    expect(byNode[B]).toMatchObject({ deleted: true });
    expect(byNode[D]).toMatchObject({ deleted: false, error: expect.stringMatching(/announces again/) });
    await expect(getFile(f.fileId)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(JSON.parse((await cli(['ls', '--json'])).stdout).some((x: { fileId: string }) => x.fileId === f.fileId)).toBe(false);
    for (const n of [A, B]) expect(await held(n, f.fileId)).toBe('NOT_FOUND');
    expect(existsSync(fileDir(D, f.fileId))).toBe(true);

    // d comes back: its first announce is answered with the tombstone, and it deletes its copy.
    await swarm.startNode(D);
    await waitFor('d to delete its copy', async () => (await held(D, f.fileId)) === 'NOT_FOUND' && !existsSync(fileDir(D, f.fileId)));
    // It did not register the file again meanwhile.
    await sleep(1500);
    await expect(getFile(f.fileId)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  }, 120_000);
});
