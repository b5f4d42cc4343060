#!/usr/bin/env node
// npm run bench:replicate -- [--size 100MiB] [--runs 3]
// A replicated upload (`share --replicas 2` from node a over 4 other nodes of a local swarm) beside
// the same bytes copied twice with `cp`, in the same run. Prints medians. Build first (npm run build).
const { execFileSync } = require('node:child_process');
const { randomFillSync } = require('node:crypto');
const { mkdirSync, openSync, writeSync, closeSync, rmSync } = require('node:fs');
const { join, resolve } = require('node:path');
const { parseSize, formatBytes, DEFAULT_CHUNK_SIZE } = require('../libs/common/dist');
const { LocalSwarm } = require('../cli/dist/launcher/local-swarm');
const { openContext } = require('../cli/dist/context');
const { share } = require('../cli/dist/commands/share');

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const size = parseSize(arg('size', '100MiB'));
const runs = Number(arg('runs', '3'));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const time = (fn) => { const t = process.hrtime.bigint(); const r = fn(); return Promise.resolve(r).then(() => Number(process.hrtime.bigint() - t) / 1e9); };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

(async () => {
  const dir = resolve('.bench', 'replicate');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const block = Buffer.allocUnsafe(1 << 20);
  const randomFile = (path) => {
    const fd = openSync(path, 'w');
    for (let pos = 0; pos < size; pos += block.length) { randomFillSync(block); writeSync(fd, block, 0, Math.min(block.length, size - pos)); }
    closeSync(fd);
    return path;
  };
  const input = randomFile(join(dir, 'input.bin'));
  // Another file of the same size for the plain share (the first one is on every node by then).
  const other = randomFile(join(dir, 'other.bin'));

  const rows = { replicated: [], plain: [], cp2: [] };
  for (let r = 0; r < runs; r++) {
    const swarm = await LocalSwarm.start({ nodes: 5, dataDir: join(dir, `swarm-${r}`), extraEnv: { ANNOUNCE_INTERVAL_MS: '500', ...(process.env.REPLICATE_STORES_IN_FLIGHT ? { REPLICATE_STORES_IN_FLIGHT: process.env.REPLICATE_STORES_IN_FLIGHT } : {}) } });
    const ctx = await openContext({ nats: swarm.urls.natsUrl, data: swarm.dataDir });
    ctx.info = () => undefined;
    ctx.out = () => undefined;
    try {
      await sleep(1500); // every node announced: all four are candidates
      let res;
      rows.replicated.push(await time(async () => { res = await share(ctx, { file: input, node: 'a', chunkSize: DEFAULT_CHUNK_SIZE, replicas: 2 }); }));
      if (res.replication.copiesAcked !== 2 * res.manifest.hashes.length) throw new Error('not every chunk got 2 copies');
      rows.plain.push(await time(() => share(ctx, { file: other, node: 'a', chunkSize: DEFAULT_CHUNK_SIZE })));
      // Two copies of the same bytes, as `cp` makes them (page cache warm, like the swarm's).
      rows.cp2.push(await time(() => { execFileSync('cp', [input, join(dir, 'cp1.bin')]); execFileSync('cp', [input, join(dir, 'cp2.bin')]); }));
    } finally {
      await ctx.close();
      await swarm.stop();
      rmSync(join(dir, `swarm-${r}`), { recursive: true, force: true });
      rmSync(join(dir, 'cp1.bin'), { force: true });
      rmSync(join(dir, 'cp2.bin'), { force: true });
    }
  }
  const cp2 = median(rows.cp2);
  // rate = bytes written to stores / time: 2 copies for the replicated share and cp twice, 1 for the plain share
  const line = (name, s, copies) => `| ${name.padEnd(62)} | ${s.toFixed(2).padStart(7)} s | ${`${formatBytes((copies * size) / s)}/s`.padStart(12)} | ${(s / cp2).toFixed(1).padStart(7)}x |`;
  console.log(`\nreplicated upload of a ${formatBytes(size)} file, 2 copies over 4 peers, median of ${runs} runs, 5 nodes on loopback, one disk\n`);
  console.log(`| ${'step'.padEnd(62)} | ${'time'.padStart(9)} | ${'rate'.padStart(12)} | ${'vs cp x2'.padStart(8)} |`);
  console.log(`| ${'-'.repeat(62)} | ${'-'.repeat(9)} | ${'-'.repeat(12)} | ${'-'.repeat(8)} |`);
  console.log(line('share --replicas 2 (hash, into a, 2 copies to b..e, register)', median(rows.replicated), 2));
  console.log(line('share, no replicas (hash, into node a, register)', median(rows.plain), 1));
  console.log(line('  => the replication itself (the difference: 2 copies)', median(rows.replicated) - median(rows.plain), 2));
  console.log(line('cp twice (baseline: the same bytes, two copies)', cp2, 2));
  rmSync(dir, { recursive: true, force: true });
})().catch((e) => { console.error(e); process.exit(1); });
