#!/usr/bin/env node
// npm run bench:e2e -- [--size 1GiB] [--runs 3]
// The user's path, each row the whole command a person types, against the plain tool in the same run:
//   share FILE --node a                      vs  sha256sum FILE && cp FILE COPY   (target <= 1.5x its time)
//   fetch ID --node b -o OUT (one fs)        vs  curl -o OUT from a local nginx   (target >= 0.8x its speed)
//   fetch ID --node c -o OUT --stream        vs  the same curl                    (target >= 0.6x its speed)
//   swarmshare --help, swarmshare ls         vs  node -e 0                         (target < 250 ms)
// The rows take turns within each run (so all see the same machine load); medians of --runs.
// Every run shares a new file id (its first bytes change), so every fetch downloads for real.
const { execFileSync } = require('node:child_process');
const { closeSync, mkdirSync, openSync, rmSync, writeSync } = require('node:fs');
const { join, resolve } = require('node:path');
const { parseSize, formatBytes } = require('../libs/common/dist');
const { LocalSwarm } = require('../cli/dist/launcher/local-swarm');
const L = require('./transfer-lib');

const size = parseSize(L.arg('size', '1GiB'));
const runs = Number(L.arg('runs', '3'));
const CLI = resolve(__dirname, '..', 'cli', 'dist', 'main.js');
const TIMEOUT_MS = 10 * 60_000;

/** Run the CLI as a user does; resolve with [seconds, stdout]. */
function cli(args) {
  const t0 = L.now();
  const stdout = execFileSync(process.execPath, [CLI, ...args], { timeout: TIMEOUT_MS, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 24 }).toString();
  return [L.now() - t0, stdout];
}

/** Make the file new (a new file id) without rewriting it: stamp the run number into its first bytes. */
function stamp(path, r) {
  const fd = openSync(path, 'r+');
  writeSync(fd, Buffer.from(`run-${r}-${process.pid}-${Date.now()}`), 0, undefined, 0);
  closeSync(fd);
}

(async () => {
  const dir = resolve('.bench', 'e2e');
  rmSync(dir, { recursive: true, force: true });
  const www = join(dir, 'www');
  mkdirSync(www, { recursive: true });
  const input = join(www, 'input.bin');
  L.writeRandomFile(input, size);
  L.ensureTool('curl', 'curl');
  console.error(`bench:e2e: ${formatBytes(size)}, ${runs} runs, data on ${execFileSync('stat', ['-f', '-c', '%T', dir]).toString().trim()}`);

  const nginx = await L.startNginx(www, join(dir, 'nginx'));
  const swarm = await LocalSwarm.start({ nodes: 3, dataDir: join(dir, 'swarm') });
  // As a user after `up --data DIR`: the CLI finds the swarm, its TLS CA and its certificate in DIR.
  const nats = ['--data', join(dir, 'swarm')];
  const rows = { share: [], shaCp: [], fetchCopy: [], fetchStream: [], curl: [], help: [], ls: [], bare: [], downloadCopy: [], downloadStream: [], exportCopy: [], exportStream: [] };
  const how = new Set();
  try {
    for (let r = 0; r < runs; r++) {
      stamp(input, r);
      const copy = join(dir, 'cp.bin');
      rows.shaCp.push(await L.timed('sh', ['-c', `sha256sum "$1" >/dev/null && cp "$1" "$2"`, 'sh', input, copy]));
      rmSync(copy, { force: true });

      const [tShare, shared] = cli([...nats, 'share', input, '--node', 'a', '--json']);
      const s = JSON.parse(shared.trim().split('\n').pop());
      rows.share.push(tShare);
      how.add(`share by ${s.sharedBy}, ${s.chunkCount} chunks of ${formatBytes(s.chunkSize)}`);

      const curlOut = join(dir, 'curl.bin');
      rows.curl.push(await L.timed('curl', ['-sS', '-f', '-o', curlOut, `${nginx.url}/input.bin`]));
      rmSync(curlOut, { force: true });

      const out = join(dir, 'out.bin');
      const [tCopy, fc] = cli([...nats, 'fetch', s.fileId, '--node', 'b', '-o', out, '--json']);
      const f1 = JSON.parse(fc.trim().split('\n').pop());
      rows.fetchCopy.push(tCopy);
      rows.downloadCopy.push(f1.seconds);
      rows.exportCopy.push(f1.exportSeconds);
      how.add(`fetch -o by ${f1.exportedBy}`);
      if (r === 0 && !L.sameBytes(input, out)) throw new Error('fetch -o output differs from the input');
      rmSync(out, { force: true });

      const [tStream, fs] = cli([...nats, 'fetch', s.fileId, '--node', 'c', '-o', out, '--stream', '--json']);
      const f2 = JSON.parse(fs.trim().split('\n').pop());
      rows.fetchStream.push(tStream);
      rows.downloadStream.push(f2.seconds);
      rows.exportStream.push(f2.exportSeconds);
      how.add(`fetch -o --stream by ${f2.exportedBy}`);
      rmSync(out, { force: true });

      rows.bare.push(await L.timed(process.execPath, ['-e', '0']));
      rows.help.push(await L.timed(process.execPath, [CLI, '--help']));
      rows.ls.push(await L.timed(process.execPath, [CLI, ...nats, 'ls']));
      console.error(`run ${r + 1}/${runs} done`);
    }
  } finally {
    nginx.stop();
    await swarm.stop();
  }

  const m = Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, L.median(v)]));
  const runsOf = (k) => rows[k].map((x) => x.toFixed(2)).join(', ');
  const tp = (s) => `${formatBytes(size / s)}/s`;
  const out = [];
  out.push(`\nbench:e2e, ${formatBytes(size)}, median of ${runs} runs, rows taking turns; ${[...how].join('; ')}\n`);
  out.push('| row (whole command) | time | baseline in the same run | baseline time | ratio | target | runs (s) |');
  out.push('| --- | ---: | --- | ---: | ---: | --- | --- |');
  out.push(`| share FILE --node a | ${m.share.toFixed(2)} s | sha256sum + cp | ${m.shaCp.toFixed(2)} s | ${(m.share / m.shaCp).toFixed(2)}x time | <= 1.5x | ${runsOf('share')} / ${runsOf('shaCp')} |`);
  out.push(`| fetch -o, one filesystem | ${m.fetchCopy.toFixed(2)} s (${tp(m.fetchCopy)}) | curl -o from nginx | ${m.curl.toFixed(2)} s (${tp(m.curl)}) | ${(m.curl / m.fetchCopy).toFixed(2)}x speed | >= 0.8x | ${runsOf('fetchCopy')} / ${runsOf('curl')} |`);
  out.push(`| fetch -o --stream | ${m.fetchStream.toFixed(2)} s (${tp(m.fetchStream)}) | curl -o from nginx | ${m.curl.toFixed(2)} s | ${(m.curl / m.fetchStream).toFixed(2)}x speed | >= 0.6x | ${runsOf('fetchStream')} |`);
  out.push(`| of which node-to-node download | ${m.downloadCopy.toFixed(2)} s, ${m.downloadStream.toFixed(2)} s | | | | | ${runsOf('downloadCopy')} / ${runsOf('downloadStream')} |`);
  out.push(`| of which writing and checking OUT | ${m.exportCopy.toFixed(2)} s, ${m.exportStream.toFixed(2)} s | | | | | ${runsOf('exportCopy')} / ${runsOf('exportStream')} |`);
  out.push(`| swarmshare --help | ${(m.help * 1000).toFixed(0)} ms | node -e 0 | ${(m.bare * 1000).toFixed(0)} ms | +${((m.help - m.bare) * 1000).toFixed(0)} ms | < 250 ms | ${runsOf('help')} / ${runsOf('bare')} |`);
  out.push(`| swarmshare ls (running swarm) | ${(m.ls * 1000).toFixed(0)} ms | node -e 0 | ${(m.bare * 1000).toFixed(0)} ms | +${((m.ls - m.bare) * 1000).toFixed(0)} ms | < 250 ms | ${runsOf('ls')} |`);
  out.push(`\nload average at the end: ${require('node:os').loadavg().map((x) => x.toFixed(2)).join(' ')} (other work on the machine slows every row alike)`);
  console.log(out.join('\n'));
  rmSync(dir, { recursive: true, force: true });
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
