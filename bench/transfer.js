#!/usr/bin/env node
// npm run bench:transfer -- [--size 1GiB] [--runs 3] [--skip-resume]
// One holder -> one fetcher on loopback, same file, same run, three rows: Swarmshare (node a -> node b
// of a local swarm), curl from a local nginx (the plain-HTTP limit), and aria2c seeding to aria2c
// (BitTorrent), plus Swarmshare with peer TLS off (`up --insecure`) for the cost of TLS. Prints medians, the ratios, each service's peak anonymous memory (/proc RssAnon)
// during the Swarmshare transfers, and the time to resume a half-done download after a kill -9.
const { rmSync, mkdirSync, writeFileSync, readFileSync } = require('node:fs');
const { join, resolve } = require('node:path');
const { parseSize, formatBytes, DEFAULT_CHUNK_SIZE, DownloadStatusSchema, HaveReplySchema, gatewaySubjects, storeSubjects } = require('../libs/common/dist');
const { LocalSwarm } = require('../cli/dist/launcher/local-swarm');
const { openContext } = require('../cli/dist/context');
const { share } = require('../cli/dist/commands/share');
const L = require('./transfer-lib');

const size = parseSize(L.arg('size', '1GiB'));
const runs = Number(L.arg('runs', '3'));
const chunkSize = parseSize(L.arg('chunk-size', '1MiB'));
const TIMEOUT_S = 600;
// --profile DIR: every service writes a CPU profile there (see bench/cpu-profile-top.js for top frames).
const profileDir = L.arg('profile', undefined);
const serviceEnv = L.profileEnv(profileDir);

/** Ask node `node` to fetch `fileId`; poll its status until complete. Returns [seconds, final status]. */
async function swarmFetch(ctx, node, fileId, onStatus) {
  const s = gatewaySubjects(node);
  const t0 = L.now();
  await ctx.rpc.request(s.fetch, { fileId }, DownloadStatusSchema);
  for (;;) {
    const st = await ctx.rpc.request(s.status, { fileId }, DownloadStatusSchema);
    onStatus?.(st);
    if (st.state === 'complete') return [L.now() - t0, st];
    if (st.state === 'failed') throw new Error(`fetch on ${node} failed: ${st.error}`);
    if (L.now() - t0 > TIMEOUT_S) throw new Error(`fetch on ${node} did not finish in ${TIMEOUT_S} s`);
    await L.sleep(20);
  }
}

async function openSwarm(dir, nodes, extraEnv, insecure = false) {
  const swarm = await LocalSwarm.start({ nodes, dataDir: dir, extraEnv, insecure });
  // --data: the CLI side (share) takes the swarm's peer certificate from its cluster.json.
  const ctx = await openContext({ nats: swarm.urls.natsUrl, data: dir });
  ctx.info = () => undefined;
  ctx.out = () => undefined;
  return { swarm, ctx, close: async () => (await ctx.close(), await swarm.stop()) };
}

(async () => {
  const dir = resolve('.bench', 'transfer');
  rmSync(dir, { recursive: true, force: true });
  const www = join(dir, 'www');
  mkdirSync(www, { recursive: true });
  const input = join(www, 'input.bin');
  L.writeRandomFile(input, size);
  console.error(`bench:transfer: ${formatBytes(size)}, ${runs} runs, chunk ${formatBytes(chunkSize)}`);

  const rows = { swarm: [], swarmInsecure: [], nginx: [], aria: [] };
  const peakAnon = {};
  // CPU seconds each process spent during the Swarmshare fetches: where the time goes on 2 cores.
  const cpuUsed = {};

  // The rows take turns within each run (curl, aria2c, Swarmshare, then again), so all three see the
  // same machine: on this VM fresh page-cache pages cost more right after a large file was deleted,
  // and grouping the runs by row let that favour whichever row came first.
  const only = L.arg('only', 'nginx,aria,swarm').split(',');
  const nginx = only.includes('nginx') ? await L.startNginx(www, join(dir, 'nginx')) : undefined;
  const tracker = only.includes('aria') ? await L.startTracker() : undefined;
  const torrent = join(dir, 'input.torrent');
  if (tracker) writeFileSync(torrent, L.makeTorrent(input, 'input.bin', tracker.announce, chunkSize));
  try {
    for (let r = 0; r < runs; r++) {
      // -- nginx -> curl
      if (nginx) {
        const out = join(dir, 'curl.bin');
        rows.nginx.push(await L.timed('curl', ['-sS', '-f', '-o', out, `${nginx.url}/input.bin`]));
        if (r === 0 && !L.sameBytes(input, out)) throw new Error('curl output differs from the input');
        rmSync(out, { force: true });
      }

      // -- aria2c -> aria2c
      if (tracker) {
        const into = join(dir, `aria-${r}`);
        mkdirSync(into, { recursive: true });
        rows.aria.push(await L.aria2Transfer(torrent, www, into, dir));
        if (r === 0 && !L.sameBytes(input, join(into, 'input.bin'))) throw new Error('aria2c output differs from the input');
        rmSync(into, { recursive: true, force: true });
      }

      // -- Swarmshare: node a holds the file (shared before the clock starts), node b fetches it
      // Peer TLS on (the default) and off, in turn, in every run: the cost of TLS from the same machine state.
      for (const insecure of [false, true]) {
        if (!only.includes('swarm')) continue;
        const s = await openSwarm(join(dir, `swarm-${r}`), 2, { ...serviceEnv, ...JSON.parse(process.env.BENCH_SERVICE_ENV ?? '{}') }, insecure);
        try {
          const { fileId } = await share(s.ctx, { file: input, node: 'a', chunkSize });
          const procs = s.swarm.nodes.flatMap((n) => [[`${n.spec.nodeId} chunk-store`, n.store.proc.pid], [`${n.spec.nodeId} peer-gateway`, n.gateway.proc.pid]]);
          const infra = s.swarm.servers.map((x) => [x.url.split(':')[0], x.process.pid]);
          const cpu0 = L.cpuSeconds([...procs, ...infra].map(([, pid]) => pid));
          const stop = L.sampleAnon(procs.map(([, pid]) => pid));
          const [secs] = await swarmFetch(s.ctx, 'b', fileId);
          const peak = stop();
          const cpu1 = L.cpuSeconds([...procs, ...infra].map(([, pid]) => pid));
          if (insecure) {
            rows.swarmInsecure.push(secs);
            continue; // memory and CPU tables are of the default (TLS) setup
          }
          rows.swarm.push(secs);
          for (const [name, pid] of procs) peakAnon[name] = Math.max(peakAnon[name] ?? 0, peak.get(pid));
          for (const [name, pid] of [...procs, ...infra]) {
            const u = (cpuUsed[name] ??= { user: [], sys: [] });
            u.user.push(cpu1.get(pid).user - cpu0.get(pid).user);
            u.sys.push(cpu1.get(pid).sys - cpu0.get(pid).sys);
          }
          if (r === 0 && !L.sameBytes(input, join(s.swarm.node('b').spec.dataDir, 'files', fileId, 'data'))) throw new Error('node b holds different bytes');
        } finally {
          await s.close();
          if (!process.argv.includes('--keep')) rmSync(join(dir, `swarm-${r}`), { recursive: true, force: true });
        }
      }
    }
  } finally {
    nginx?.stop();
    tracker?.stop();
  }

  // -- resume: kill -9 node b (store and gateway) half way, restart it, fetch again
  let resume;
  if (!process.argv.includes('--skip-resume') && only.includes('swarm')) {
    const s = await openSwarm(join(dir, 'resume'), 2);
    try {
      const { fileId, manifest } = await share(s.ctx, { file: input, node: 'a', chunkSize });
      const chunks = manifest.hashes.length;
      let before = 0;
      const half = (async () => {
        const sub = gatewaySubjects('b');
        await s.ctx.rpc.request(sub.fetch, { fileId }, DownloadStatusSchema);
        for (;;) {
          const st = await s.ctx.rpc.request(sub.status, { fileId }, DownloadStatusSchema);
          before = st.chunksDone;
          if (st.chunksDone >= chunks / 2) return;
          await L.sleep(5);
        }
      })();
      await half;
      await s.swarm.stopNode('b', 'SIGKILL');
      const t0 = L.now();
      await s.swarm.startNode('b');
      const restarted = L.now() - t0;
      const have = await s.ctx.rpc.request(storeSubjects('b').have, { fileId }, HaveReplySchema);
      const [fetchSecs, st] = await swarmFetch(s.ctx, 'b', fileId);
      const fetched = Object.values(st.fromPeers).reduce((a, b) => a + b, 0) / chunkSize;
      resume = { restarted, fetchSecs, total: L.now() - t0, before, present: have.present, chunks, fetched: Math.round(fetched) };
      if (!L.sameBytes(input, join(s.swarm.node('b').spec.dataDir, 'files', fileId, 'data'))) throw new Error('node b holds different bytes after the resume');
    } finally {
      await s.close();
    }
  }

  const med = { swarm: L.median(rows.swarm), swarmInsecure: L.median(rows.swarmInsecure), nginx: L.median(rows.nginx), aria: L.median(rows.aria) };
  const tp = (s) => `${formatBytes(size / s)}/s`;
  const row = (name, s, all) => `| ${name.padEnd(34)} | ${s.toFixed(2).padStart(7)} s | ${tp(s).padStart(12)} | ${(med.nginx / s).toFixed(2).padStart(8)}x | ${all.map((x) => x.toFixed(2)).join(', ')} |`;
  const out = [];
  out.push(`\nbench:transfer: ${formatBytes(size)} from one holder to one fetcher on loopback, median of ${runs} runs (chunk/piece ${formatBytes(chunkSize)})\n`);
  out.push('| row                                | time      | throughput   | vs nginx  | runs (s) |');
  out.push('| ---------------------------------- | --------- | ------------ | --------- | -------- |');
  out.push(row('Swarmshare (node a -> node b)', med.swarm, rows.swarm));
  out.push(row('Swarmshare, peer TLS off (--insecure)', med.swarmInsecure, rows.swarmInsecure));
  out.push(row('nginx -> curl (plain HTTP)', med.nginx, rows.nginx));
  out.push(row('aria2c -> aria2c (BitTorrent)', med.aria, rows.aria));
  out.push('');
  out.push(`Swarmshare / nginx->curl throughput: ${(med.nginx / med.swarm).toFixed(2)}x (target >= 0.8)`);
  out.push(`Swarmshare / aria2c throughput:      ${(med.aria / med.swarm).toFixed(2)}x (target >= 1.5)`);
  out.push(`Peer TLS on / off throughput:         ${(med.swarmInsecure / med.swarm).toFixed(2)}x (target >= 0.85)`);
  out.push('\nPeak anonymous memory (RssAnon) during the Swarmshare transfers (target < 200 MB each):\n');
  out.push('| process                | peak RssAnon |');
  out.push('| ---------------------- | ------------ |');
  for (const [name, kb] of Object.entries(peakAnon)) out.push(`| ${name.padEnd(22)} | ${(kb / 1024).toFixed(1).padStart(9)} MiB |`);
  if (Object.keys(cpuUsed).length) {
    out.push(`\nCPU seconds per process during the Swarmshare fetch (median, threads included, system time includes page faults and writeback; the machine has ${require('node:os').availableParallelism()} cores, the fetch took ${med.swarm.toFixed(2)} s):\n`);
    out.push('| process                | user s | system s |');
    out.push('| ---------------------- | ------ | -------- |');
    for (const [name, u] of Object.entries(cpuUsed)) out.push(`| ${name.padEnd(22)} | ${L.median(u.user).toFixed(2).padStart(6)} | ${L.median(u.sys).toFixed(2).padStart(8)} |`);
  }
  if (resume) {
    out.push(`\nResume after kill -9 at ${resume.before}/${resume.chunks} chunks done: restart (store + gateway ready) ${resume.restarted.toFixed(2)} s,`);
    out.push(`present after restart ${resume.present} (from the on-disk bitmap), fetched after restart ${resume.fetched} chunks = missing ${resume.chunks - resume.present},`);
    out.push(`rest of the download ${resume.fetchSecs.toFixed(2)} s, kill to complete ${resume.total.toFixed(2)} s.`);
  }
  console.log(out.join('\n'));
  if (!process.argv.includes('--keep')) rmSync(dir, { recursive: true, force: true });
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
