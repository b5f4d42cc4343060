#!/usr/bin/env node
// npm run bench:swarm -- [--size 256MiB] [--runs 3] [--fetchers 8]
// 1 seeder and 8 fetchers of one file, all fetching at once. Reports the time until all are
// complete and the origin egress ratio (bytes the seeder's gateway wrote / file size, from
// /proc/<pid>/io wchar: an upper bound, it also counts control frames and logs), beside 8 parallel
// curls from one nginx (egress ratio 8 by construction) in the same run. Medians over runs.
const { readFileSync, rmSync, mkdirSync } = require('node:fs');
const { join, resolve } = require('node:path');
const { parseSize, formatBytes, DownloadStatusSchema, gatewaySubjects } = require('../libs/common/dist');
const { LocalSwarm } = require('../cli/dist/launcher/local-swarm');
const { openContext } = require('../cli/dist/context');
const { share } = require('../cli/dist/commands/share');
const L = require('./transfer-lib');

const size = parseSize(L.arg('size', '256MiB'));
const runs = Number(L.arg('runs', '3'));
const fetchers = Number(L.arg('fetchers', '8'));
const chunkSize = parseSize(L.arg('chunk-size', '1MiB'));
const TIMEOUT_S = 600;

const wchar = (pid) => Number(/wchar:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))[1]);

async function waitAll(ctx, ids, fileId) {
  const t0 = L.now();
  const done = new Map();
  while (done.size < ids.length) {
    for (const id of ids) {
      if (done.has(id)) continue;
      const st = await ctx.rpc.request(gatewaySubjects(id).status, { fileId }, DownloadStatusSchema);
      if (st.state === 'failed') throw new Error(`fetch on ${id} failed: ${st.error}`);
      if (st.state === 'complete') done.set(id, st);
    }
    if (L.now() - t0 > TIMEOUT_S) throw new Error(`not all fetchers finished in ${TIMEOUT_S} s`);
    await L.sleep(20);
  }
  return done;
}

(async () => {
  const dir = resolve('.bench', 'swarm');
  rmSync(dir, { recursive: true, force: true });
  const www = join(dir, 'www');
  mkdirSync(www, { recursive: true });
  const input = join(www, 'input.bin');
  L.writeRandomFile(input, size);
  console.error(`bench:swarm: ${formatBytes(size)}, 1 seeder + ${fetchers} fetchers, ${runs} runs`);
  const rows = { swarm: [], egress: [], fromSeedStatus: [], nginx: [] };

  // The rows take turns within each run (8 curls, then the swarm), so both see the same machine
  // state (see docs/performance.md: fresh page-cache pages cost more right after a large delete).
  const nginx = await L.startNginx(www, join(dir, 'nginx'));
  try {
    for (let r = 0; r < runs; r++) {
      const c0 = L.now();
      await Promise.all(Array.from({ length: fetchers }, (_, i) => L.timed('curl', ['-sS', '-f', '-o', join(dir, `curl-${i}.bin`), `${nginx.url}/input.bin`])));
      rows.nginx.push(L.now() - c0);
      for (let i = 0; i < fetchers; i++) rmSync(join(dir, `curl-${i}.bin`), { force: true });

      const swarm = await LocalSwarm.start({ nodes: fetchers + 1, dataDir: join(dir, `swarm-${r}`), extraEnv: JSON.parse(process.env.BENCH_SERVICE_ENV ?? '{}') });
      const ctx = await openContext({ nats: swarm.urls.natsUrl, data: swarm.dataDir });
      ctx.info = () => undefined;
      ctx.out = () => undefined;
      try {
        const seed = swarm.nodes[0];
        const ids = swarm.nodes.slice(1).map((n) => n.spec.nodeId);
        const { fileId } = await share(ctx, { file: input, node: seed.spec.nodeId, chunkSize });
        const w0 = wchar(seed.gateway.proc.pid);
        const t0 = L.now();
        await Promise.all(ids.map((id) => ctx.rpc.request(gatewaySubjects(id).fetch, { fileId }, DownloadStatusSchema)));
        const done = await waitAll(ctx, ids, fileId);
        rows.swarm.push(L.now() - t0);
        rows.egress.push((wchar(seed.gateway.proc.pid) - w0) / size);
        rows.fromSeedStatus.push([...done.values()].reduce((n, s) => n + (s.fromPeers[seed.spec.nodeId] ?? 0), 0) / size);
        if (r === 0) {
          for (const id of ids) if (!L.sameBytes(input, join(swarm.node(id).spec.dataDir, 'files', fileId, 'data'))) throw new Error(`${id} holds different bytes`);
        }
      } finally {
        await ctx.close();
        await swarm.stop();
        if (!process.argv.includes('--keep')) rmSync(join(dir, `swarm-${r}`), { recursive: true, force: true });
      }
    }
  } finally {
    nginx.stop();
  }

  const f = (x) => x.toFixed(2);
  const out = [];
  out.push(`\nbench:swarm: 1 seeder -> ${fetchers} fetchers at once, ${formatBytes(size)}, median of ${runs} runs\n`);
  out.push('| row                                   | all complete | origin egress ratio | runs (s) |');
  out.push('| ------------------------------------- | ------------ | ------------------- | -------- |');
  out.push(`| Swarmshare (1 seeder, ${fetchers} fetchers)        | ${f(L.median(rows.swarm)).padStart(10)} s | ${f(L.median(rows.egress)).padStart(19)} | ${rows.swarm.map(f).join(', ')} |`);
  out.push(`| nginx -> ${fetchers} parallel curls               | ${f(L.median(rows.nginx)).padStart(10)} s | ${f(fetchers).padStart(19)} | ${rows.nginx.map(f).join(', ')} |`);
  out.push('');
  out.push(`origin egress ratio: seeder gateway bytes written / file size (target <= 1.5); chunks the fetchers kept from the seeder: ${f(L.median(rows.fromSeedStatus))}x the file`);
  console.log(out.join('\n'));
  if (!process.argv.includes('--keep')) rmSync(dir, { recursive: true, force: true });
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
