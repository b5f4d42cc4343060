import { createServer } from 'node:net';
import { z } from 'zod';
import { GatewayInfoSchema, type Manifest, type NatsRpc, gatewaySubjects } from '@swarmshare/common';
import { type Node, connectClient } from './cluster';

/** A seeded PRNG (mulberry32), so a failing overlay can be rebuilt exactly. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A connected random graph with cycles, every degree 3 or 4: a ring (cycles, connectivity), then
 * random chords between nodes still under degree 3, a few allowed to reach 4.
 */
export function randomOverlay(n: number, seed: number): Array<Set<number>> {
  const r = rng(seed);
  const adj = Array.from({ length: n }, () => new Set<number>());
  const link = (a: number, b: number) => (adj[a].add(b), adj[b].add(a));
  for (let i = 0; i < n; i++) link(i, (i + 1) % n);
  for (let guard = 0; guard < 100_000; guard++) {
    const low = adj.map((s, i) => i).filter((i) => adj[i].size < 3);
    if (low.length === 0) break;
    const a = low[Math.floor(r() * low.length)];
    const options = adj.map((_, i) => i).filter((b) => b !== a && !adj[a].has(b) && adj[b].size < (low.length === 1 ? 4 : 3));
    if (options.length === 0) continue;
    link(a, options[Math.floor(r() * options.length)]);
  }
  return adj;
}

export function distances(adj: Array<Set<number>>, from: number): number[] {
  const d = adj.map(() => Infinity);
  d[from] = 0;
  const q = [from];
  while (q.length) {
    const x = q.shift()!;
    for (const y of adj[x]) if (d[y] === Infinity) (d[y] = d[x] + 1), q.push(y);
  }
  return d;
}

/** One shortest path from `from` to `to` (node indexes, both ends included). */
export function shortestPath(adj: Array<Set<number>>, from: number, to: number): number[] {
  const prev = new Map<number, number>();
  const q = [from];
  const seen = new Set([from]);
  while (q.length) {
    const x = q.shift()!;
    if (x === to) break;
    for (const y of [...adj[x]].sort((a, b) => a - b)) if (!seen.has(y)) (seen.add(y), prev.set(y, x), q.push(y));
  }
  const path = [to];
  while (path[0] !== from) path.unshift(prev.get(path[0])!);
  return path;
}

/** Free TCP ports on `host`, chosen by the OS (to be used at once). */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<import('node:net').Server>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, host, () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** Push a file into a node over TCP (STORE_OFFER/STORE), without the tracker. */
export async function seed(node: Node, f: { manifest: Manifest; chunk(i: number): Buffer }): Promise<void> {
  const client = await connectClient(node);
  try {
    await client.offerAndStore(f.manifest, (i) => f.chunk(i), { concurrency: 4 });
  } finally {
    await client.close();
  }
}

export async function neighboursOf(rpc: NatsRpc, node: Node): Promise<string[]> {
  const info = await rpc.request(gatewaySubjects(node.id).info, {}, GatewayInfoSchema);
  return (info.neighbours ?? []).map((n) => n.nodeId);
}

/** Wait until every node's gateway lists exactly its neighbours in the graph. */
export async function waitOverlay(rpc: NatsRpc, nodes: Node[], adj: Array<Set<number>>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lists = await Promise.all(nodes.map((n) => neighboursOf(rpc, n).catch(() => [] as string[])));
    const wrong = nodes.filter((n, i) => lists[i].slice().sort().join() !== [...adj[i]].map((j) => nodes[j].id).sort().join());
    if (wrong.length === 0) return;
    if (Date.now() > deadline) throw new Error(`overlay not formed in ${timeoutMs} ms: ${wrong.map((n) => `${n.id} has [${lists[nodes.indexOf(n)].join(',')}]`).join('; ')}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export const FoundSchema = z.object({ nodeId: z.string(), address: z.string(), via: z.string(), afterMs: z.number() });
