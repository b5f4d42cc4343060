#!/usr/bin/env node
// npm run bench:discovery -- [--sizes 50,100,200] [--lookups 10] [--seed 7]
// Trackerless discovery on overlays of real gateways' discovery stacks (PeerServer, PeerConnector,
// overlay, flood, iterative lookup: the gateway's own code from dist) on loopback, all nodes in
// this one process. Chunk data is not moved: holders answer from an in-memory have-map, so the
// numbers are about finding holders. For each size and scheme, with 0% and 10% of nodes dead:
// messages per lookup, duplicates dropped, time to the first holder, time until every chunk has
// a known holder, and the share of lookups that succeed. Prints a Markdown table.
const { randomBytes } = require('node:crypto');
const { Bitfield } = require('../libs/common/dist');
const { PeerServer } = require('../services/peer-gateway/dist/transport/peer-server');
const { PeerConnector } = require('../services/peer-gateway/dist/transport/peer-connector');
const { ConnectionExtensions } = require('../services/peer-gateway/dist/transport/connection-extensions');
const { Discovery } = require('../services/peer-gateway/dist/discovery/discovery');

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const SIZES = arg('sizes', '50,100,200').split(',').map(Number);
const LOOKUPS = Number(arg('lookups', '10'));
const SEED = Number(arg('seed', '7'));
const CHUNKS = 24;
const LOOKUP_BUDGET_MS = 5000;
const HOPS = Number(arg('hops', '6'));

function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Connected random graph with cycles, degree 3-4 (a ring plus random chords), as in the tests. */
function randomOverlay(n, r) {
  const adj = Array.from({ length: n }, () => new Set());
  const link = (a, b) => (adj[a].add(b), adj[b].add(a));
  for (let i = 0; i < n; i++) link(i, (i + 1) % n);
  for (let guard = 0; guard < 1e6; guard++) {
    const low = adj.map((_, i) => i).filter((i) => adj[i].size < 3);
    if (low.length === 0) break;
    const a = low[Math.floor(r() * low.length)];
    const opts = adj.map((_, i) => i).filter((b) => b !== a && !adj[a].has(b) && adj[b].size < (low.length === 1 ? 4 : 3));
    if (opts.length) link(a, opts[Math.floor(r() * opts.length)]);
  }
  return adj;
}

function distances(adj, from) {
  const d = adj.map(() => Infinity);
  d[from] = 0;
  const q = [from];
  while (q.length) {
    const x = q.shift();
    for (const y of adj[x]) if (d[y] === Infinity) (d[y] = d[x] + 1), q.push(y);
  }
  return d;
}

/** Holder k of 3 has the chunks i with i % 3 != k: any two of them cover the file. */
function haveMap(k) {
  const b = new Bitfield(CHUNKS);
  for (let i = 0; i < CHUNKS; i++) if (i % 3 !== k) b.set(i);
  return b;
}

async function startNode(i, files) {
  const nodeId = `b${i}`;
  const holds = new Map(); // fileId -> base64 bitfield
  const handler = {
    have: async (fileId) => (holds.has(fileId) ? { chunkCount: CHUNKS, bitfield: holds.get(fileId) } : { chunkCount: 0, bitfield: '' }),
    manifest: async () => { throw Object.assign(new Error('not in this benchmark'), { code: 'NOT_FOUND' }); },
    openRead: async () => { throw Object.assign(new Error('not in this benchmark'), { code: 'NOT_FOUND' }); },
    offer: async () => { throw Object.assign(new Error('not in this benchmark'), { code: 'UNAVAILABLE' }); },
    openWrite: async () => { throw Object.assign(new Error('not in this benchmark'), { code: 'UNAVAILABLE' }); },
  };
  // Wired like the gateway's app module: the transport first, then discovery, which registers its hooks.
  const extensions = new ConnectionExtensions();
  const server = new PeerServer({ nodeId, host: '127.0.0.1', port: 0, maxConnections: 1024, handler, extensions });
  const connector = new PeerConnector({ nodeId, listen: () => server.address, handler, extensions });
  const d = new Discovery({
    nodeId,
    selfAddress: () => server.address,
    connect: (a, expect, o) => connector.connect(a, expect, o),
    localHave: (f) => handler.have(f),
    bootstrap: [],
    maxNeighbours: 8,
    minNeighbours: 0,
    queryHops: HOPS,
    queryRatePerOrigin: 1000,
    dedupeSize: 10000,
    lookupTimeoutMs: 1000,
    lookupParallelism: 8,
    lookupCacheTtlMs: 30000,
    discoveryTimeoutMs: LOOKUP_BUDGET_MS,
    tickMs: 500,
  });
  extensions.serveDiscovery(d.features, d.hooks);
  extensions.onAccepted((c) => d.overlay.accept(c));
  await server.listen();
  return { i, nodeId, d, server, connector, holds, dead: false };
}

function kill(n) {
  // A crash: no more accepts, every connection gone at once.
  n.dead = true;
  n.d.stop();
  n.server.stopAccepting();
  n.server.closeAll('killed');
  n.connector.closeAll('killed');
}

const sum = (nodes, f) => nodes.reduce((s, n) => s + f(n), 0);
const median = (xs) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] : NaN);

async function lookup(scheme, req, fileId, nodes) {
  const before = {
    sent: sum(nodes, (n) => n.d.flood.stats.sent),
    hits: sum(nodes, (n) => n.d.flood.stats.connectBacks),
    dups: sum(nodes, (n) => n.d.flood.stats.droppedDuplicate),
    iter: req.d.iterative.stats.messages,
  };
  const t0 = performance.now();
  let first;
  let all;
  const covered = new Bitfield(CHUNKS);
  const found = new Set();
  const onHolder = (h) => {
    if (found.has(h.nodeId)) return;
    found.add(h.nodeId);
    first ??= performance.now() - t0;
    for (const i of h.bitfield.indexes()) covered.set(i);
    if (covered.isComplete()) all ??= performance.now() - t0;
  };
  if (scheme === 'flood') {
    const q = req.d.flood.start(fileId, HOPS, onHolder);
    const deadline = Date.now() + LOOKUP_BUDGET_MS;
    while (all === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    q.stop();
    // Let answers still under way arrive (and be refused), so they are counted for this lookup.
    await new Promise((r) => setTimeout(r, 300));
  } else {
    await Promise.race([
      req.d.iterative.run(fileId, onHolder, () => all !== undefined),
      new Promise((r) => setTimeout(r, LOOKUP_BUDGET_MS)),
    ]);
  }
  for (const h of found) req.d.takeLink(h)?.close('benchmark lookup done');
  const messages =
    scheme === 'flood'
      ? sum(nodes, (n) => n.d.flood.stats.sent) - before.sent + 2 * (sum(nodes, (n) => n.d.flood.stats.connectBacks) - before.hits)
      : req.d.iterative.stats.messages - before.iter;
  return { messages, dups: scheme === 'flood' ? sum(nodes, (n) => n.d.flood.stats.droppedDuplicate) - before.dups : 0, first, all, ok: all !== undefined };
}

async function runSize(n, r) {
  const adj = randomOverlay(n, r);
  const nodes = [];
  for (let i = 0; i < n; i += 25) nodes.push(...(await Promise.all(Array.from({ length: Math.min(25, n - i) }, (_, k) => startNode(i + k)))));
  // Each edge dialled by its lower end, like BOOTSTRAP_PEERS in the tests.
  await Promise.all(nodes.map((nd) => nd.d.overlay.addBootstrap([...adj[nd.i]].filter((j) => j > nd.i).map((j) => nodes[j].server.address))));
  for (let t = 0; t < 100 && !nodes.every((nd) => nd.d.overlay.size === adj[nd.i].size); t++) await new Promise((res) => setTimeout(res, 100));
  const rows = [];
  for (const deadShare of [0, 0.1]) {
    const results = { flood: [], iterative: [] };
    for (let l = 0; l < LOOKUPS; l++) {
      const live = nodes.filter((x) => !x.dead);
      const req = live[Math.floor(r() * live.length)];
      const dist = distances(adj, req.i);
      // Holders: three live nodes at distance >= 3 (the farthest first if too few).
      const far = live.filter((x) => x !== req).sort((a, b) => dist[b.i] - dist[a.i] || r() - 0.5);
      const pick = far.filter((x) => dist[x.i] >= 3);
      const holders = (pick.length >= 3 ? pick.sort(() => r() - 0.5) : far).slice(0, 3);
      for (const scheme of ['flood', 'iterative']) {
        const fileId = randomBytes(32).toString('hex');
        holders.forEach((h, k) => h.holds.set(fileId, haveMap(k).toBase64()));
        results[scheme].push(await lookup(scheme, req, fileId, nodes));
      }
    }
    for (const scheme of ['flood', 'iterative']) {
      const rs = results[scheme];
      rows.push({
        nodes: n,
        dead: `${Math.round(deadShare * 100)}%`,
        scheme,
        messages: Math.round(median(rs.map((x) => x.messages))),
        dups: Math.round(median(rs.map((x) => x.dups))),
        first: median(rs.filter((x) => x.first !== undefined).map((x) => x.first)),
        all: median(rs.filter((x) => x.ok).map((x) => x.all)),
        success: rs.filter((x) => x.ok).length / rs.length,
      });
    }
    if (deadShare === 0) {
      // 10% of nodes crash before the next round; lookups start from live nodes only.
      const victims = [...nodes].sort(() => r() - 0.5).slice(0, Math.round(n * 0.1));
      victims.forEach(kill);
      await new Promise((res) => setTimeout(res, 300));
    }
  }
  for (const nd of nodes) if (!nd.dead) kill(nd);
  await new Promise((res) => setTimeout(res, 200));
  return rows;
}

(async () => {
  const r = rng(SEED);
  const fmt = (x) => (Number.isFinite(x) ? `${x.toFixed(0)} ms` : '-');
  const out = ['| nodes | dead | scheme | messages / lookup | duplicates dropped | first holder | all chunks covered | success |', '| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |'];
  for (const n of SIZES) {
    const rows = await runSize(n, r);
    for (const x of rows) out.push(`| ${x.nodes} | ${x.dead} | ${x.scheme} | ${x.messages} | ${x.scheme === 'flood' ? x.dups : 'n/a'} | ${fmt(x.first)} | ${fmt(x.all)} | ${Math.round(x.success * 100)}% |`);
    process.stderr.write(`[bench] ${n} nodes done\n`);
  }
  console.log(`Medians over ${LOOKUPS} lookups per row; ${CHUNKS} chunks, 3 holders with 2/3 of the chunks each, hop budget ${HOPS}, ${LOOKUP_BUDGET_MS} ms budget per lookup.\n`);
  console.log(out.join('\n'));
  process.exit(0);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
