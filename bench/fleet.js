#!/usr/bin/env node
// sudo npm run bench:fleet -- [--size 128MiB] [--rate 200mbit] [--fetchers 4,8,16] [--timeout-min 25] [--keep] [--profile DIR]
// (--keep leaves .bench/fleet, with every service's log, for a look afterwards)
// The fleet case, shaped like a real network (issue 16, item 7): every host is a network namespace on
// one bridge, its link limited with tc tbf in both directions. One origin host and N fetcher hosts;
// each round shares a new file on the origin, then times, as a user types them, N concurrent
//   swarmshare fetch ID --node fK -o OUT          (the whole command, until every OUT is there)
// against nginx on the origin host serving curl on every fetcher host through the same links.
// It also counts the origin's egress (bytes its link sent / file size) and the CPU seconds every
// process of the swarm spent (services, nats-server, redis-server and the CLI commands) per GiB received,
// beside what curl and nginx spent for the same bytes (curl's writing of OUT included).
// Needs root (ip netns, tc); bounded in time; removes its namespaces and bridge on every exit.
const { execFileSync, spawn, spawnSync } = require('node:child_process');
const { randomBytes } = require('node:crypto');
const { mkdirSync, rmSync } = require('node:fs');
const os = require('node:os');
const { join, resolve } = require('node:path');
const { parseSize, formatBytes } = require('../libs/common/dist');
const { LocalSwarm } = require('../cli/dist/launcher/local-swarm');
const L = require('./transfer-lib');

if (process.getuid?.() !== 0) {
  console.error('bench:fleet needs root: it builds hosts from network namespaces (ip netns) and shapes their links with tc. Run it as root (sudo npm run bench:fleet).');
  process.exit(2);
}

const size = parseSize(L.arg('size', '128MiB'));
const rate = L.arg('rate', '200mbit');
const fleets = L.arg('fetchers', '4,8,16').split(',').map(Number);
if (fleets.some((n) => !Number.isInteger(n) || n < 1 || n > 32)) throw new Error('--fetchers: a comma-separated list of counts from 1 to 32');
const maxN = Math.max(...fleets);
const timeoutMin = Number(L.arg('timeout-min', '25'));
// --profile DIR: every service writes a V8 CPU profile there (bench/cpu-profile-top.js shows its top frames).
const profileDir = L.arg('profile', undefined);
const CLI = resolve(__dirname, '..', 'cli', 'dist', 'main.js');
const GiB = 1024 ** 3;

const tag = randomBytes(2).toString('hex');
const subnet = `10.214.${1 + (parseInt(tag, 16) % 250)}`;
const BRIDGE = `sfbr${tag}`;
const ns = (i) => `sf${tag}-${i}`;
const ip = (i) => `${subnet}.${10 + i}`;
const vethOut = (i) => `vf${tag}${i}a`; // root side, on the bridge: its egress is the host's download
const vethIn = (i) => `vf${tag}${i}b`; // inside the host: its egress is the host's upload
const HOST = `${subnet}.1`;
const hostName = (i) => (i === 0 ? 'origin' : `f${String(i).padStart(2, '0')}`);

const sh = (...args) => execFileSync(args[0], args.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

function makeHosts() {
  sh('ip', 'link', 'add', BRIDGE, 'type', 'bridge');
  sh('ip', 'addr', 'add', `${HOST}/24`, 'dev', BRIDGE);
  sh('ip', 'link', 'set', BRIDGE, 'up');
  const tbf = ['root', 'tbf', 'rate', rate, 'burst', '256kb', 'latency', '100ms'];
  for (let i = 0; i <= maxN; i++) {
    sh('ip', 'netns', 'add', ns(i));
    sh('ip', 'link', 'add', vethOut(i), 'type', 'veth', 'peer', 'name', vethIn(i));
    sh('ip', 'link', 'set', vethOut(i), 'master', BRIDGE, 'up');
    sh('ip', 'link', 'set', vethIn(i), 'netns', ns(i));
    sh('ip', '-n', ns(i), 'addr', 'add', `${ip(i)}/24`, 'dev', vethIn(i));
    sh('ip', '-n', ns(i), 'link', 'set', vethIn(i), 'up');
    sh('ip', '-n', ns(i), 'link', 'set', 'lo', 'up');
    sh('tc', 'qdisc', 'add', 'dev', vethOut(i), ...tbf);
    sh('ip', 'netns', 'exec', ns(i), 'tc', 'qdisc', 'add', 'dev', vethIn(i), ...tbf);
  }
}

function removeHosts() {
  for (let i = 0; i <= maxN; i++) {
    try {
      sh('ip', 'netns', 'del', ns(i));
    } catch {
      /* not created */
    }
  }
  try {
    sh('ip', 'link', 'del', BRIDGE);
  } catch {
    /* not created */
  }
}

/** Bytes host i has sent on its link so far. */
const txBytes = (i) => Number(sh('ip', 'netns', 'exec', ns(i), 'cat', `/sys/class/net/${vethIn(i)}/statistics/tx_bytes`).trim());

/** A server process of our own (stopped on exit). */
const children = [];
function own(cmd, args, opts = {}) {
  const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'ignore'], ...opts });
  children.push(p);
  return p;
}

/** CPU seconds (user + system) that `pids` spent between two L.cpuSeconds readings. */
function cpuUsed(before, after, pids) {
  return pids.reduce((a, p) => a + after.get(p).user + after.get(p).sys - before.get(p).user - before.get(p).sys, 0);
}

/** The direct children of a process (nginx's workers). */
function childPids(pid) {
  const out = spawnSync('pgrep', ['-P', String(pid)]).stdout.toString().trim();
  return out ? out.split('\n').map(Number) : [];
}

/**
 * Run a command under bash and report its wall seconds and the CPU seconds it and its children used
 * (bash's `times`), so the CLI's own cost counts too.
 */
function timedWithCpu(args, timeoutMs) {
  return new Promise((resolvePromise, reject) => {
    const t0 = L.now();
    const p = spawn('bash', ['-c', '"$@"; rc=$?; times >&2; exit $rc', 'bash', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => (err = (err + d).slice(-4000)));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('exit', (code, sig) => {
      clearTimeout(timer);
      const lines = err.trim().split('\n');
      const secs = (s) => { const m = /(\d+)m([\d.]+)s/.exec(s); return m ? Number(m[1]) * 60 + Number(m[2]) : 0; };
      const kids = (lines.pop() ?? '').split(' ');
      const cpu = secs(kids[0]) + secs(kids[1]);
      if (code === 0) resolvePromise({ seconds: L.now() - t0, cpu });
      else reject(new Error(`${args.join(' ')} failed (${code ?? sig}): ${lines.slice(-5).join('\n')}`));
    });
  });
}

(async () => {
  const dir = resolve('.bench', 'fleet');
  rmSync(dir, { recursive: true, force: true });
  const www = join(dir, 'www');
  mkdirSync(www, { recursive: true });
  L.ensureTool('curl', 'curl');
  const deadline = setTimeout(() => {
    console.error(`bench:fleet: stopped after its ${timeoutMin}-minute bound`);
    cleanup();
    process.exit(3);
  }, timeoutMin * 60_000);

  let swarm;
  let cleaned = false;
  function cleanup() {
    if (cleaned) return;
    cleaned = true;
    for (const c of children) c.kill('SIGKILL');
    for (const s of swarm?.services() ?? []) s.service.proc.kill('SIGKILL');
    removeHosts();
  }
  process.on('exit', cleanup);
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => (cleanup(), process.exit(130)));

  console.error(`bench:fleet: ${formatBytes(size)}, links ${rate} (tbf, both directions), fetchers ${fleets.join(', ')}; building ${maxN + 1} hosts`);
  makeHosts();

  // Control plane in the root namespace, reached over the bridge. The peer plane keeps its defaults
  // (mutual TLS with the swarm's CA); NATS and Redis here are plain and user-less: they carry only
  // control messages, and this bench measures the data path.
  const natsPort = await L.freePort();
  const redisPort = await L.freePort();
  own('nats-server', ['-a', HOST, '-p', String(natsPort), '-js', '-sd', join(dir, 'nats')]);
  own('redis-server', ['--port', String(redisPort), '--bind', HOST, '--protected-mode', 'no', '--save', '', '--appendonly', 'no']);
  await L.waitForPort(HOST, natsPort, 'nats-server');
  await L.waitForPort(HOST, redisPort, 'redis-server');
  const infraPids = children.map((c) => c.pid);

  const ids = Array.from({ length: maxN + 1 }, (_, i) => hostName(i));
  const t0 = L.now();
  const profiling = L.profileEnv(profileDir);
  swarm = await LocalSwarm.start({
    ...(profiling ? { extraEnv: profiling } : {}),
    nodes: maxN + 1,
    nodeIds: ids,
    dataDir: join(dir, 'swarm'),
    natsUrl: `nats://${HOST}:${natsPort}`,
    redisUrl: `redis://${HOST}:${redisPort}`,
    placeNode: (id) => {
      const i = ids.indexOf(id);
      return { host: ip(i), prefix: ['ip', 'netns', 'exec', ns(i)] };
    },
  });
  console.error(`swarm of ${maxN + 1} nodes up in ${(L.now() - t0).toFixed(1)} s`);
  const data = ['--data', join(dir, 'swarm')];
  const pidsOf = (kind) => swarm.services().filter((s) => s.processName.endsWith(kind)).map((s) => s.service.proc.pid);
  const groups = { gateways: pidsOf('peer-gateway'), stores: pidsOf('chunk-store'), 'tracker, nats, redis': [...pidsOf('tracker-0'), ...infraPids] };

  // nginx on the origin host, on its own address, serving the same files.
  const nginx = await L.startNginx(www, join(dir, 'nginx'), { host: ip(0), prefix: ['ip', 'netns', 'exec', ns(0)] });
  children.push({ kill: () => nginx.stop() });

  const rounds = [1, ...fleets.filter((n) => n !== 1)];
  const results = [];
  for (const n of rounds) {
    // A new file every round, so no fetcher already holds it.
    const input = join(www, `file-${n}.bin`);
    L.writeRandomFile(input, size);
    const shared = execFileSync(process.execPath, [CLI, ...data, 'share', input, '--node', 'origin', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
    const fileId = JSON.parse(shared.trim().split('\n').pop()).fileId;
    const fetchers = Array.from({ length: n }, (_, k) => k + 1);

    const tx0 = txBytes(0);
    const cpu0 = L.cpuSeconds(Object.values(groups).flat());
    const start = L.now();
    const runs = await Promise.all(
      fetchers.map((k) => timedWithCpu([process.execPath, CLI, ...data, 'fetch', fileId, '--node', hostName(k), '-o', join(dir, `out-${k}.bin`)], timeoutMin * 60_000)),
    );
    const swarmSeconds = L.now() - start;
    const cpu1 = L.cpuSeconds(Object.values(groups).flat());
    const egress = (txBytes(0) - tx0) / size;
    for (const k of fetchers) {
      if (!L.sameBytes(input, join(dir, `out-${k}.bin`))) throw new Error(`fetcher ${hostName(k)}: OUT differs from the file`);
      rmSync(join(dir, `out-${k}.bin`));
    }
    const cpuBy = Object.fromEntries(Object.entries(groups).map(([g, pids]) => [g, cpuUsed(cpu0, cpu1, pids)]));
    cpuBy['CLI commands'] = runs.reduce((a, r) => a + r.cpu, 0);
    const cpuTotal = Object.values(cpuBy).reduce((a, b) => a + b, 0);

    // HTTP's CPU in the same run: the curl commands (writing OUT included) and nginx's processes.
    const nginxPids = [nginx.pid, ...childPids(nginx.pid)];
    const http0 = L.cpuSeconds(nginxPids);
    const httpStart = L.now();
    const httpRuns = await Promise.all(fetchers.map((k) => timedWithCpu(['ip', 'netns', 'exec', ns(k), 'curl', '-sS', '-f', '-o', join(dir, `curl-${k}.bin`), `${nginx.url}/file-${n}.bin`], timeoutMin * 60_000)));
    const httpSeconds = L.now() - httpStart;
    const http1 = L.cpuSeconds(nginxPids);
    const httpCpu = httpRuns.reduce((a, r) => a + r.cpu, 0) + cpuUsed(http0, http1, nginxPids);
    for (const k of fetchers) rmSync(join(dir, `curl-${k}.bin`));

    const r = { n, swarmSeconds, httpSeconds, egress, cpuPerGiB: cpuTotal / ((n * size) / GiB), httpCpuPerGiB: httpCpu / ((n * size) / GiB), cpuBy };
    results.push(r);
    console.error(`${n} fetcher(s): swarm ${swarmSeconds.toFixed(2)} s, HTTP ${httpSeconds.toFixed(2)} s, origin egress ${egress.toFixed(2)}, ${r.cpuPerGiB.toFixed(1)} CPU-s per GiB (HTTP ${r.httpCpuPerGiB.toFixed(1)})`);
  }
  clearTimeout(deadline);

  const one = results.find((r) => r.n === 1).swarmSeconds;
  const out = [];
  out.push(`\nbench:fleet, ${formatBytes(size)}, every host's link ${rate} both ways (tc tbf), whole \`swarmshare fetch ID --node fK -o OUT\` commands, all started at once; HTTP = nginx on the origin host, curl on every fetcher host, same links\n`);
  out.push('| fetchers | swarm, all done | HTTP, all done | swarm / HTTP | swarm / one fetch | origin egress | CPU-s per GiB received | HTTP: CPU-s per GiB (curl + nginx) | CPU-s: gateways, stores, tracker+nats+redis, CLI |');
  out.push('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const r of results) {
    out.push(`| ${r.n} | ${r.swarmSeconds.toFixed(2)} s | ${r.httpSeconds.toFixed(2)} s | ${(r.swarmSeconds / r.httpSeconds).toFixed(2)} | ${(r.swarmSeconds / one).toFixed(2)} | ${r.egress.toFixed(2)} | ${r.cpuPerGiB.toFixed(1)} | ${r.httpCpuPerGiB.toFixed(1)} | ${Object.values(r.cpuBy).map((c) => c.toFixed(1)).join(', ')} |`);
  }
  out.push(`\ntargets at 16 fetchers: swarm / HTTP <= 0.25, swarm / one fetch <= 2, origin egress <= 1.1; <= 4 CPU-s per GiB at 8 fetchers. Load average at the end: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  console.log(out.join('\n'));
  await swarm.stop();
  cleanup();
  if (!process.argv.includes('--keep')) rmSync(dir, { recursive: true, force: true });
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
