import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from 'nats';
import { z } from 'zod';
import {
  type DownloadStatus,
  DownloadStatusSchema,
  type Manifest,
  NatsRpc,
  TrackerSubjects,
  connectNats,
  gatewaySubjects,
} from '@swarmshare/common';
import { type RunningService, startService } from '../../../test/support/services';
import { testGatewayTlsEnv, testPeerTls } from '../../../test/support/peer-tls';
import { PeerClient } from '@swarmshare/common';

const ROOT = join(__dirname, '..', '..', '..');

/** Integration tests run the real services from dist: wait for the other teams' builds if needed. */
export async function waitForBuilds(timeoutMs = 10 * 60_000): Promise<void> {
  const need = ['chunk-store', 'tracker', 'peer-gateway'].map((s) => join(ROOT, 'services', s, 'dist', 'main.js'));
  const deadline = Date.now() + timeoutMs;
  while (!need.every(existsSync)) {
    if (Date.now() > deadline) throw new Error(`not built: ${need.filter((p) => !existsSync(p)).join(', ')} (run npm run build)`);
    await new Promise((r) => setTimeout(r, 2000));
  }
}

export function uniqueId(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString('hex')}`;
}

export class Node {
  gateway!: RunningService;
  address!: string;

  constructor(
    readonly id: string,
    readonly dataDir: string,
    readonly store: RunningService,
    private readonly gatewayEnv: Record<string, string>,
  ) {}

  async startGateway(): Promise<void> {
    this.gateway = await startService('peer-gateway', this.gatewayEnv, { readyTimeoutMs: READY_TIMEOUT_MS });
    const ready = this.gateway.logs.find((l) => l.event === 'ready')!;
    this.address = String(ready.address);
  }

  async stop(): Promise<void> {
    await Promise.all([this.gateway?.stop(), this.store.stop()]);
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/**
 * How long a node's service may take to say it is ready. Generous: tests start up to 60 such
 * processes on 2 cores while the earlier ones announce and keep their overlay, and a chunk-store
 * once took over 20 s there (CI, discovery-overlay).
 */
const READY_TIMEOUT_MS = 60_000;

/** One node: a chunk-store and a peer-gateway sharing a fresh DATA_DIR, the gateway on an OS-chosen port. */
export async function startNode(id: string, extra: Record<string, string> = {}, storeExtra: Record<string, string> = {}): Promise<Node> {
  const dataDir = mkdtempSync(join(tmpdir(), `ss-${id}-`));
  const base = { NODE_ID: id, DATA_DIR: dataDir, NATS_URL: process.env.NATS_URL!, REDIS_URL: process.env.REDIS_URL!, LOG_LEVEL: process.env.SERVICE_LOGS ? 'debug' : 'info' };
  const store = await startService('chunk-store', { ...base, LEASE_TTL_MS: '60000', ...storeExtra }, { readyTimeoutMs: READY_TIMEOUT_MS });
  // Peer mutual TLS on, as in production; a test that needs plaintext passes PEER_TLS: 'off' in extra.
  const tls = await testGatewayTlsEnv(id);
  const node = new Node(id, dataDir, store, { ...base, ...tls, PEER_HOST: '127.0.0.1', PEER_PORT: '0', ANNOUNCE_INTERVAL_MS: '500', ...extra });
  try {
    await node.startGateway();
  } catch (e) {
    await store.stop();
    throw e;
  }
  return node;
}

export async function startTracker(): Promise<RunningService> {
  return startService('tracker', { NATS_URL: process.env.NATS_URL!, REDIS_URL: process.env.REDIS_URL!, PEER_TTL_MS: '30000' });
}

export async function natsRpc(): Promise<{ rpc: NatsRpc; nc: NatsConnection }> {
  const nc = await connectNats(process.env.NATS_URL!, 'peer-gateway-test');
  return { rpc: new NatsRpc(nc, 10_000), nc };
}

/** A client of a test node, as the CLI connects: over mutual TLS with the test CA's client certificate. */
export async function connectClient(node: Node): Promise<PeerClient> {
  return PeerClient.connect(node.address, { tls: await testPeerTls() });
}

/** After abuse: the gateway process is up and still serves chunk `index` of `f` to a well-behaved client. */
export async function expectStillServes(node: Node, f: { manifest: Manifest; chunk(i: number): Buffer }, index: number): Promise<void> {
  const c = await connectClient(node);
  try {
    expect((await c.requestChunk(f.manifest, index)).equals(f.chunk(index))).toBe(true);
  } finally {
    await c.close();
  }
  expect(node.gateway.proc.exitCode).toBeNull();
}

/** What `swarmshare share` does: push the file into a node over TCP, then register it with the tracker. */
export async function share(rpc: NatsRpc, node: Node, f: { manifest: Manifest; data: Buffer; chunk(i: number): Buffer }): Promise<void> {
  const client = await connectClient(node);
  try {
    await client.offerAndStore(f.manifest, (i) => f.chunk(i), { concurrency: 4 });
  } finally {
    await client.close();
  }
  const m = f.manifest;
  await rpc.request(
    TrackerSubjects.registerFile,
    { fileId: m.fileId, name: m.name, size: m.size, chunkSize: m.chunkSize, chunkCount: m.hashes.length, hash: createHash('sha256').update(f.data).digest('hex'), nodeId: node.id },
    z.unknown(),
  );
}

/** Read a whole file back out of a node with REQUEST/PIECE, as `swarmshare fetch` does. */
export async function readBack(node: Node, m: Manifest): Promise<Buffer> {
  const client = await connectClient(node);
  try {
    const parts: Buffer[] = new Array(m.hashes.length);
    let next = 0;
    // Eight REQUESTs in flight, as a real reader would pipeline them.
    const worker = async () => {
      while (next < m.hashes.length) {
        const i = next++;
        parts[i] = await client.requestChunk(m, i);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    return Buffer.concat(parts);
  } finally {
    await client.close();
  }
}

export function fetch(rpc: NatsRpc, node: Node, fileId: string): Promise<DownloadStatus> {
  return rpc.request(gatewaySubjects(node.id).fetch, { fileId }, DownloadStatusSchema);
}

export function status(rpc: NatsRpc, node: Node, fileId: string): Promise<DownloadStatus> {
  return rpc.request(gatewaySubjects(node.id).status, { fileId }, DownloadStatusSchema);
}

/** Poll the gateway until the download is complete or failed (or `until` says stop). */
export async function waitDownload(rpc: NatsRpc, node: Node, fileId: string, opts: { timeoutMs?: number; until?: (s: DownloadStatus) => boolean } = {}): Promise<DownloadStatus> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  for (;;) {
    const s = await status(rpc, node, fileId);
    if (s.state === 'complete' || s.state === 'failed' || opts.until?.(s)) return s;
    if (Date.now() > deadline) throw new Error(`download of ${fileId.slice(0, 12)} on ${node.id} not done in time: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Wait until the tracker lists `nodeId` as a seeder of the file (announces are periodic). */
export async function waitSeeder(rpc: NatsRpc, fileId: string, nodeId: string, timeoutMs = 15000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const Rec = z.object({ seeders: z.array(z.object({ nodeId: z.string() })) });
  for (;;) {
    const r = await rpc.request(TrackerSubjects.getFile, { fileId }, Rec).catch(() => ({ seeders: [] }));
    if (r.seeders.some((s) => s.nodeId === nodeId)) return;
    if (Date.now() > deadline) throw new Error(`${nodeId} is not a seeder of ${fileId.slice(0, 12)} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
