import { execFile } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connect, type NatsConnection } from 'nats';
import { DownloadStatusSchema, gatewaySubjects, NatsRpc, sha256Hex, natsServerOptions } from '@swarmshare/common';
import { LocalSwarm } from '../../cli/src/launcher/local-swarm';
import { REPO_ROOT } from '../../cli/src/launcher/service-process';

/**
 * Issue 12, fault 2: a write lock lives as long as its owner, not LEASE_TTL_MS (60 s). A fetch cut
 * short by a gateway crash or a NATS outage is re-fetched at once, and completes, instead of failing
 * with "the local chunk-store keeps failing on chunk N: ... is being written by another lease".
 * Real processes: a local swarm with its own nats-server (so it can be restarted) and the test Redis.
 */
const run = promisify(execFile);
const CLI = join(REPO_ROOT, 'cli', 'dist', 'main.js');
const MiB = 1024 * 1024;
const SIZE = 40 * MiB;
const REFETCH_BOUND_MS = 45_000;

describe('no stale write locks after a crash or a NATS outage', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ss-locks-'));
  const suffix = Math.random().toString(36).slice(2, 8);
  const A = `lk-a-${suffix}`;
  const B = `lk-b-${suffix}`;
  const C = `lk-c-${suffix}`;
  let swarm: LocalSwarm;
  let nc: NatsConnection;
  let rpc: NatsRpc;
  let data: Buffer;
  let fileId: string;

  beforeAll(async () => {
    swarm = await LocalSwarm.start({
      nodes: 3,
      nodeIds: [A, B, C],
      dataDir: dir,
      redisUrl: process.env.REDIS_URL,
      // Slow enough that a fault lands mid-fetch; the lease TTL stays at its 60 s default on purpose.
      extraEnv: { ANNOUNCE_INTERVAL_MS: '500', DOWNLOAD_RATE_LIMIT: '10MiB' },
    });
    nc = await connect({ ...natsServerOptions(swarm.urls.natsUrl, swarm.natsCa), maxReconnectAttempts: -1, reconnectTimeWait: 200 });
    rpc = new NatsRpc(nc, 10_000);
    data = Buffer.allocUnsafe(SIZE);
    randomFillSync(data);
    const input = join(dir, 'input.bin');
    writeFileSync(input, data);
    const { stdout } = await run(process.execPath, [CLI, 'share', input, '--node', A, '--nats', swarm.urls.natsUrl, '--data', swarm.dataDir], { timeout: 120_000 });
    fileId = stdout.trim().split('\n').pop()!;
  });

  afterAll(async () => {
    await nc?.close();
    await swarm?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Start a fetch on `node` over NATS and wait until about 40% of the chunks are in. */
  async function fetchUntilPartly(node: string): Promise<void> {
    const s = gatewaySubjects(node);
    await rpc.request(s.fetch, { fileId }, DownloadStatusSchema);
    const deadline = Date.now() + 60_000;
    for (;;) {
      const st = await rpc.request(s.status, { fileId }, DownloadStatusSchema);
      if (st.chunkCount > 0 && st.chunksDone >= st.chunkCount * 0.4) return;
      if (st.state === 'complete' || st.state === 'failed') throw new Error(`fetch on ${node} ended early: ${JSON.stringify(st)}`);
      if (Date.now() > deadline) throw new Error(`fetch on ${node} did not reach 40% in 60 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The user's command, started at once: it must complete, byte-identical, within the bound. */
  async function refetch(node: string): Promise<number> {
    const out = join(dir, `out-${node}.bin`);
    const t0 = Date.now();
    await run(process.execPath, [CLI, 'fetch', fileId, '--node', node, '-o', out, '--nats', swarm.urls.natsUrl, '--data', swarm.dataDir], { timeout: REFETCH_BOUND_MS });
    const ms = Date.now() - t0;
    expect(sha256Hex(readFileSync(out))).toBe(sha256Hex(data));
    return ms;
  }

  it('kill -9 of the fetching gateway mid-fetch: the restarted gateway re-fetches at once and completes', async () => {
    await fetchUntilPartly(B);
    await swarm.node(B).gateway.stop('SIGKILL');
    await swarm.respawn(`${B}-peer-gateway`);
    const ms = await refetch(B);
    process.stdout.write(`re-fetch after gateway kill -9: ${ms} ms\n`);
  });

  it('nats-server killed and restarted mid-fetch: a re-fetch started at once completes', async () => {
    await fetchUntilPartly(C);
    const i = swarm.servers.findIndex((s) => s.name === 'nats-server');
    const nats = swarm.servers[i];
    await new Promise<void>((resolve) => {
      nats.process.once('exit', () => resolve());
      nats.process.kill('SIGKILL');
    });
    // Longer than the store's WRITER_TIMEOUT_MS, as the operator's 10 s outage was.
    await new Promise((r) => setTimeout(r, 7000));
    swarm.servers[i] = await nats.respawn!();
    const ms = await refetch(C);
    process.stdout.write(`re-fetch after a nats-server restart: ${ms} ms\n`);
  });
});
