#!/usr/bin/env node
// npm run bench:share -- [--size 256MiB] [--runs 3]
// Shares a random file from node a and fetches it on node b of a local swarm, beside `cp` of the
// same file in the same run. Prints medians. Build first (npm run build).
const { execFileSync } = require('node:child_process');
const { randomFillSync } = require('node:crypto');
const { mkdirSync, openSync, writeSync, closeSync, rmSync } = require('node:fs');
const { join, resolve } = require('node:path');
const { parseSize, formatBytes, DEFAULT_CHUNK_SIZE } = require('../libs/common/dist');
const { LocalSwarm } = require('../cli/dist/launcher/local-swarm');
const { openContext } = require('../cli/dist/context');
const { share } = require('../cli/dist/commands/share');
const { fetch } = require('../cli/dist/commands/fetch');

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const size = parseSize(arg('size', '256MiB'));
const runs = Number(arg('runs', '3'));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const time = (fn) => { const t = process.hrtime.bigint(); const r = fn(); return Promise.resolve(r).then(() => Number(process.hrtime.bigint() - t) / 1e9); };

(async () => {
  const dir = resolve('.bench', 'share-fetch');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const input = join(dir, 'input.bin');
  const fd = openSync(input, 'w');
  const block = Buffer.allocUnsafe(1 << 20);
  for (let pos = 0; pos < size; pos += block.length) { randomFillSync(block); writeSync(fd, block, 0, Math.min(block.length, size - pos)); }
  closeSync(fd);

  const rows = { share: [], fetch: [], cp: [] };
  for (let r = 0; r < runs; r++) {
    const swarm = await LocalSwarm.start({ nodes: 2, dataDir: join(dir, `swarm-${r}`) });
    const ctx = await openContext({ nats: swarm.urls.natsUrl, data: swarm.dataDir });
    ctx.info = () => undefined;
    ctx.out = () => undefined;
    try {
      let fileId;
      rows.share.push(await time(async () => { fileId = (await share(ctx, { file: input, node: 'a', chunkSize: DEFAULT_CHUNK_SIZE })).fileId; }));
      rows.fetch.push(await time(() => fetch(ctx, { fileId, node: 'b', output: join(dir, 'output.bin') })));
      rows.cp.push(await time(() => execFileSync('cp', [input, join(dir, 'cp.bin')])));
    } finally {
      await ctx.close();
      await swarm.stop();
      rmSync(join(dir, `swarm-${r}`), { recursive: true, force: true });
    }
  }
  const cp = median(rows.cp);
  const line = (name, s) => `| ${name.padEnd(42)} | ${s.toFixed(2).padStart(7)} s | ${formatBytes(size / s).padStart(10)}/s | ${(s / cp).toFixed(1).padStart(6)}x |`;
  console.log(`\nshare/fetch of a ${formatBytes(size)} file, median of ${runs} runs, 2 nodes on loopback\n`);
  console.log('| step                                       |    time   |   throughput  | vs cp  |');
  console.log('| ------------------------------------------ | --------- | ------------- | ------ |');
  console.log(line('share (hash + push into node a + register)', median(rows.share)));
  console.log(line('fetch (b downloads from a + export to -o)', median(rows.fetch)));
  console.log(line('cp (baseline, same file, same run)', cp));
  rmSync(dir, { recursive: true, force: true });
})().catch((e) => { console.error(e); process.exit(1); });
