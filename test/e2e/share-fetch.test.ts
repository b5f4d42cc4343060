import { execFile, spawn } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connect, type NatsConnection } from 'nats';
import { FileRecordSchema, NatsRpc, TrackerSubjects, PeerRecordSchema } from '@swarmshare/common';
import { z } from 'zod';
import { LocalSwarm } from '../../cli/src/launcher/local-swarm';
import { REPO_ROOT } from '../../cli/src/launcher/service-process';
import { promSample } from '../support/prometheus';

const run = promisify(execFile);
const CLI = join(REPO_ROOT, 'cli', 'dist', 'main.js');
const MiB = 1024 * 1024;

function sha256(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

/** The swarmshare command exactly as a user runs it. */
async function cli(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [CLI, ...args], { maxBuffer: 64 * MiB, timeout: 180_000 });
}

describe('end to end: share on one node, fetch on another', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ss-e2e-'));
  const suffix = Math.random().toString(36).slice(2, 8);
  const A = `e2e-a-${suffix}`;
  const B = `e2e-b-${suffix}`;
  let swarm: LocalSwarm;
  let nc: NatsConnection;
  let rpc: NatsRpc;

  beforeAll(async () => {
    swarm = await LocalSwarm.start({
      nodes: 2,
      nodeIds: [A, B],
      dataDir: dir,
      natsUrl: process.env.NATS_URL,
      redisUrl: process.env.REDIS_URL,
      extraEnv: { ANNOUNCE_INTERVAL_MS: '500' },
    });
    nc = await connect({ servers: process.env.NATS_URL });
    rpc = new NatsRpc(nc, 10_000);
  });

  afterAll(async () => {
    await nc?.drain();
    await swarm?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('moves a 64 MiB file with a short last chunk byte-identical, across a tracker restart', async () => {
    const input = join(dir, 'input.bin');
    const output = join(dir, 'output.bin');
    const data = Buffer.allocUnsafe(64 * MiB + 12345);
    randomFillSync(data);
    writeFileSync(input, data);

    const shared = await cli(['--nats', process.env.NATS_URL!, '--data', swarm.dataDir, 'share', input, '--node', A]);
    const lines = shared.stdout.trim().split('\n');
    const fileId = lines[lines.length - 1];
    expect(fileId).toMatch(/^[0-9a-f]{64}$/);

    const before = await rpc.request(TrackerSubjects.getFile, { fileId }, FileRecordSchema);
    expect(before).toMatchObject({ name: 'input.bin', size: data.length, chunkCount: 65, hash: sha256(data), downloads: 0 });
    expect(before.seeders.map((s) => s.nodeId)).toEqual([A]);

    // A tracker restart changes nothing a client sees.
    await swarm.tracker[0].stop('SIGTERM');
    await swarm.startTracker();
    const after = await rpc.request(TrackerSubjects.getFile, { fileId }, FileRecordSchema);
    expect(after).toEqual(before);

    const fetched = await cli(['--nats', process.env.NATS_URL!, '--data', swarm.dataDir, 'fetch', fileId, '--node', B, '-o', output]);
    expect(fetched.stderr).toMatch(new RegExp(`received ${A}: 64\\.0 MiB`));
    const out = readFileSync(output);
    expect(out.length).toBe(data.length);
    expect(out.equals(data)).toBe(true);
    expect(existsSync(`${output}.partial`)).toBe(false);

    // The metrics saw the transfer: bytes per peer on both gateways, every chunk verified by b's store.
    const metric = async (proc: string, name: string, labels: Record<string, string> = {}) =>
      promSample(await (await globalThis.fetch(`http://127.0.0.1:${swarm.httpPorts.get(proc)}/metrics`)).text(), name, labels) ?? 0;
    expect(await metric(`${B}-peer-gateway`, 'swarmshare_peer_bytes_received_total', { peer: A })).toBeGreaterThanOrEqual(data.length);
    expect(await metric(`${A}-peer-gateway`, 'swarmshare_peer_bytes_sent_total', { peer: B })).toBeGreaterThanOrEqual(data.length);
    expect(await metric(`${B}-chunk-store`, 'swarmshare_chunks_verified_total')).toBeGreaterThanOrEqual(65);

    const record = await rpc.request(TrackerSubjects.getFile, { fileId }, FileRecordSchema);
    expect(record.seeders.map((s) => s.nodeId).sort()).toEqual([A, B].sort());
    expect(record.leechers).toEqual([]);
    expect(record.downloads).toBe(1);

    const ls = await cli(['--nats', process.env.NATS_URL!, '--data', swarm.dataDir, 'ls']);
    expect(ls.stdout).toContain(fileId.slice(0, 16));
    expect(ls.stdout).toMatch(/input\.bin\s+64\.0 MiB\s+65/);
    const peers = await rpc.request(TrackerSubjects.listPeers, {}, z.array(PeerRecordSchema));
    expect(peers.map((p) => p.nodeId)).toEqual(expect.arrayContaining([A, B]));
  });

  it('shares and fetches a 0-byte file', async () => {
    const input = join(dir, 'empty.bin');
    const output = join(dir, 'empty.out');
    writeFileSync(input, Buffer.alloc(0));
    const shared = await cli(['--nats', process.env.NATS_URL!, '--data', swarm.dataDir, 'share', input, '--node', A]);
    const fileId = shared.stdout.trim().split('\n').pop()!;
    await cli(['--nats', process.env.NATS_URL!, '--data', swarm.dataDir, 'fetch', fileId, '--node', B, '-o', output]);
    expect(readFileSync(output).length).toBe(0);
  });

  it('gives clear errors for bad input', async () => {
    const nats = ['--nats', process.env.NATS_URL!, '--data', swarm.dataDir];
    await expect(cli([...nats, 'fetch', 'not-an-id', '--node', B])).rejects.toMatchObject({ stderr: expect.stringMatching(/file id must be 64 lowercase hex/) });
    await expect(cli([...nats, 'fetch', 'f'.repeat(64), '--node', B])).rejects.toMatchObject({ stderr: expect.stringMatching(/NOT_FOUND/) });
    await expect(cli([...nats, 'share', join(dir, 'missing.bin'), '--node', A])).rejects.toMatchObject({ stderr: expect.stringMatching(/does not exist/) });
    writeFileSync(join(dir, 'small.bin'), 'x');
    await expect(cli([...nats, 'share', join(dir, 'small.bin'), '--node', 'nosuchnode'])).rejects.toMatchObject({ stderr: expect.stringMatching(/node nosuchnode does not answer/) });
    await expect(cli([...nats, 'share', join(dir, 'small.bin'), '--node', A, '--chunk-size', '1000'])).rejects.toMatchObject({ stderr: expect.stringMatching(/multiple of 65536/) });
  });
});

describe('swarmshare up: the embedded default', () => {
  it('starts nats-server, redis-server, the tracker and N nodes, records them, and stops everything on Ctrl-C', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ss-up-'));
    const proc = spawn(process.execPath, [CLI, '--data', dir, 'up', '--nodes', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    proc.stderr.on('data', (d) => (stderr += d));
    try {
      const deadline = Date.now() + 60_000;
      while (!stderr.includes('swarm ready')) {
        if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`swarm did not come up: ${stderr}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      const cluster = JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8'));
      expect(cluster.nodes.map((n: { nodeId: string }) => n.nodeId)).toEqual(['a', 'b']);
      // Every process serves health and metrics, as in compose and Kubernetes.
      expect(Object.keys(cluster.httpPorts).sort()).toEqual(['a-chunk-store', 'a-peer-gateway', 'b-chunk-store', 'b-peer-gateway', 'tracker-0']);
      // The tracker's gRPC admin API: its port and the generated token, in a file only its owner reads.
      expect(Object.keys(cluster.grpcPorts)).toEqual(['tracker-0']);
      expect(cluster.adminToken).toMatch(/^[0-9a-f]{48}$/);
      expect(statSync(join(dir, 'cluster.json')).mode & 0o077).toBe(0);
      for (const port of Object.values(cluster.httpPorts) as number[]) {
        const res = await globalThis.fetch(`http://127.0.0.1:${port}/readyz`);
        expect(res.status).toBe(200);
      }
      // Other commands find the swarm through --data.
      let peers = '';
      for (let i = 0; i < 50 && !/\ba\b[\s\S]*\bb\b/.test(peers); i++) {
        peers = (await cli(['--data', dir, 'peers'])).stdout;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(peers).toMatch(/^a\s+127\.0\.0\.1:\d+/m);
      expect(peers).toMatch(/^b\s+127\.0\.0\.1:\d+/m);
    } finally {
      proc.kill('SIGINT');
      await new Promise((r) => proc.once('exit', r));
    }
    expect(stderr).toContain('stopped');
    // Nothing it started is left running.
    const { stdout } = await run('ps', ['-eo', 'args']);
    expect(stdout).not.toContain(dir);
    const redisPort = /redis-server\s+rediss?:\/\/127\.0\.0\.1:(\d+)/.exec(stderr)?.[1];
    expect(redisPort).toBeDefined();
    expect(stdout).not.toMatch(new RegExp(`redis-server.*:${redisPort}`));
    rmSync(dir, { recursive: true, force: true });
  });
});
