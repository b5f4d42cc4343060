import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { NatsConnection } from 'nats';
import { DownloadStatusSchema, type NatsRpc, gatewaySubjects } from '@swarmshare/common';
import type { RunningService } from '../../../test/support/services';
import { type Node, natsRpc, readBack, startNode, startTracker, uniqueId, waitDownload, waitForBuilds } from './cluster';
import { makeFile } from '../../../libs/common/test/memory-handler';
import { distances, freePorts, randomOverlay, seed, shortestPath, waitOverlay } from './overlay-helpers';

const run = promisify(execFile);
const CLI = join(__dirname, '..', '..', '..', 'cli', 'dist', 'main.js');
const N = 30;
const SEED = 4242;

/**
 * Trackerless discovery on a 30-node overlay of real processes (a chunk-store and a peer-gateway
 * per node) on loopback: a random graph with cycles, degree 3-4, the file held by 3 nodes at
 * distance >= 3 from the requester. The tracker runs while the overlay forms, then is stopped.
 */
/**
 * How long a lookup question waits for an answer. Long enough that "found before the hung peer's
 * question timed out" cannot be mistaken for load on a 2-core machine running 60 processes (the first
 * holder took 2.1 s there once, against 1.5 s when this was 1500 ms).
 */
const LOOKUP_TIMEOUT_MS = 6000;

describe('discovery: a 30-node overlay with the tracker stopped', () => {
  let rpc: NatsRpc;
  let nc: NatsConnection;
  let tracker: RunningService | undefined;
  let nodes: Node[] = [];
  const adj = randomOverlay(N, SEED);
  const dist = distances(adj, 0);
  // The three farthest-first nodes at distance >= 3 hold every file.
  const holders = adj
    .map((_, i) => i)
    .filter((i) => dist[i] >= 3)
    .sort((a, b) => dist[b] - dist[a] || a - b)
    .slice(0, 3);
  const files = ['flood', 'iterative', 'flood-kill', 'iterative-kill', 'flood-hung', 'iterative-hung'].map((n) => makeFile(1024 * 1024 + 777, 64 * 1024, `${n}.bin`));
  const killed = new Set<number>();
  let requester: Node;

  beforeAll(async () => {
    expect(holders).toHaveLength(3);
    await waitForBuilds();
    ({ rpc, nc } = await natsRpc());
    tracker = await startTracker();
    const ports = await freePorts(N);
    const addr = (i: number) => `127.0.0.1:${ports[i]}`;
    const prefix = uniqueId('ov');
    // Each edge is dialled by its lower end; the other end adopts it, so every edge is one link.
    const env = (i: number): Record<string, string> => {
      const dial = [...adj[i]].filter((j) => j > i).map(addr);
      return {
        PEER_PORT: String(ports[i]),
        MIN_NEIGHBOURS: '0',
        LOOKUP_TIMEOUT_MS: String(LOOKUP_TIMEOUT_MS),
        DISCOVERY_TIMEOUT_MS: '30000',
        QUERY_HOPS: '8',
        ...(dial.length ? { BOOTSTRAP_PEERS: dial.join(',') } : {}),
      };
    };
    nodes = new Array(N);
    // 60 processes on a small machine: a few at a time.
    for (let i = 0; i < N; i += 6) {
      await Promise.all(
        Array.from({ length: Math.min(6, N - i) }, async (_, k) => {
          nodes[i + k] = await startNode(`${prefix}-${i + k}`, env(i + k));
        }),
      );
    }
    requester = nodes[0];
    await waitOverlay(rpc, nodes, adj);
    for (const h of holders) for (const f of files) await seed(nodes[h], f);
    await tracker.stop();
    tracker = undefined;
  }, 420_000);

  afterAll(async () => {
    await Promise.all(nodes.filter(Boolean).map((n) => n.stop()));
    await tracker?.stop();
    await nc?.close();
  });

  const live = () => adj.map((s, i) => new Set([...s].filter((j) => !killed.has(j) && !killed.has(i))));
  /** Hop `k` of a shortest path from the requester to the nearest holder, in the live graph. */
  function hop(k: number): number {
    const alive = live();
    const d = distances(alive, 0);
    const near = holders.slice().sort((a, b) => d[a] - d[b])[0];
    return shortestPath(alive, 0, near)[k];
  }

  function kill(i: number): Promise<void> {
    killed.add(i);
    return Promise.all([nodes[i].gateway.stop('SIGKILL'), nodes[i].store.stop('SIGKILL')]).then(() => undefined);
  }

  async function cliFetch(fileId: string, args: string[]): Promise<{ stderr: string; out: string; bytes: Buffer }> {
    const dir = mkdtempSync(join(tmpdir(), 'ss-cli-'));
    const out = join(dir, 'out.bin');
    try {
      const r = await run(process.execPath, [CLI, '--nats', process.env.NATS_URL!, '--timeout', '3000', 'fetch', fileId, '--node', requester.id, '-o', out, ...args], { timeout: 90_000 });
      return { stderr: r.stderr, out: r.stdout, bytes: readFileSync(out) };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  const holderIds = () => holders.map((h) => nodes[h].id);

  it('the overlay is a graph with cycles, degrees 3-4, holders at distance >= 3', () => {
    expect(adj.every((s) => s.size >= 3 && s.size <= 4)).toBe(true);
    const edges = adj.reduce((n, s) => n + s.size, 0) / 2;
    expect(edges).toBeGreaterThan(N - 1); // more edges than a tree: cycles
    expect(holders.every((h) => dist[h] >= 3)).toBe(true);
  });

  it('flood from the CLI: finds holders by connect-back and fetches the file byte-identical', async () => {
    const f = files[0];
    const r = await cliFetch(f.manifest.fileId, ['--discover', 'flood']);
    expect(r.bytes.equals(f.data)).toBe(true);
    expect(r.stderr).toMatch(/holders found: .* by flood after \d+ ms/);
    const s = await rpc.request(gatewaySubjects(requester.id).status, { fileId: f.manifest.fileId }, DownloadStatusSchema);
    expect(s.discovery?.mode).toBe('flood');
    expect(s.discovery!.holders.length).toBeGreaterThan(0);
    for (const h of s.discovery!.holders) expect(holderIds()).toContain(h.nodeId);
  });

  it('the default from the CLI, with the tracker down, falls back to iterative lookup and fetches byte-identical', async () => {
    const f = files[1];
    const r = await cliFetch(f.manifest.fileId, []);
    expect(r.bytes.equals(f.data)).toBe(true);
    expect(r.stderr).toMatch(/the tracker does not answer/);
    expect(r.stderr).toMatch(/holders found: .* by iterative after \d+ ms/);
    const s = await rpc.request(gatewaySubjects(requester.id).status, { fileId: f.manifest.fileId }, DownloadStatusSchema);
    expect(s.discovery?.mode).toBe('iterative');
    for (const h of s.discovery!.holders) expect(holderIds()).toContain(h.nodeId);
  });

  it.each([
    ['flood', 2],
    ['iterative', 3],
  ] as const)('%s: a node on the shortest path killed mid-lookup does not stop it', async (mode, fi) => {
    const f = files[fi];
    const victim = hop(1);
    expect(holders).not.toContain(victim);
    await rpc.request(gatewaySubjects(requester.id).fetch, { fileId: f.manifest.fileId, discover: mode }, DownloadStatusSchema);
    await kill(victim);
    const s = await waitDownload(rpc, requester, f.manifest.fileId, { timeoutMs: 60_000 });
    expect({ state: s.state, error: s.error }).toEqual({ state: 'complete', error: undefined });
    expect(s.discovery?.mode).toBe(mode);
    expect((await readBack(requester, f.manifest)).equals(f.data)).toBe(true);
  });

  it.each([
    ['flood', 4],
    ['iterative', 5],
  ] as const)('%s: a hung node on the shortest path (SIGSTOP: connections open, no answers) costs one branch, not the lookup', async (mode, fi) => {
    const f = files[fi];
    // The second hop: earlier tests killed two of the requester's neighbours, so hanging its last one would cut it off.
    const hung = hop(2);
    expect(holders).not.toContain(hung);
    const without = live().map((s, i) => (i === hung ? new Set<number>() : new Set([...s].filter((j) => j !== hung))));
    expect(holders.some((h) => distances(without, 0)[h] < Infinity)).toBe(true); // a holder is still reachable around it
    nodes[hung].gateway.proc.kill('SIGSTOP');
    try {
      const t0 = Date.now();
      await rpc.request(gatewaySubjects(requester.id).fetch, { fileId: f.manifest.fileId, discover: mode }, DownloadStatusSchema);
      const s = await waitDownload(rpc, requester, f.manifest.fileId, { timeoutMs: 60_000 });
      expect({ state: s.state, error: s.error }).toEqual({ state: 'complete', error: undefined });
      // The first holder is known before the hung peer's question could time out: the lookup did not wait for it.
      expect(Math.min(...s.discovery!.holders.map((h) => h.afterMs))).toBeLessThan(LOOKUP_TIMEOUT_MS);
      expect(Date.now() - t0).toBeLessThan(20_000);
      expect((await readBack(requester, f.manifest)).equals(f.data)).toBe(true);
    } finally {
      nodes[hung].gateway.proc.kill('SIGCONT');
    }
  });
});
