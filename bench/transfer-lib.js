// Shared helpers of bench:transfer and bench:swarm: the baselines (nginx + curl, aria2c BitTorrent),
// memory sampling from /proc, and small utilities. Everything runs on loopback, bounded in time.
const { execFileSync, spawn, spawnSync } = require('node:child_process');
const { createHash, randomFillSync } = require('node:crypto');
const { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, writeFileSync, writeSync } = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const { join, resolve } = require('node:path');

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => Number(process.hrtime.bigint()) / 1e9;

function writeRandomFile(path, size) {
  const fd = openSync(path, 'w');
  const block = Buffer.allocUnsafe(1 << 20);
  for (let pos = 0; pos < size; pos += block.length) {
    randomFillSync(block);
    writeSync(fd, block, 0, Math.min(block.length, size - pos));
  }
  closeSync(fd);
}

function sameBytes(a, b) {
  const h = (p) => createHash('sha256').update(readFileSync(p)).digest('hex');
  return h(a) === h(b);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Install Debian packages the baselines need, if their binary is missing (apt-get, as the issue says). */
function ensureTool(binary, pkg) {
  if (spawnSync('sh', ['-c', `command -v ${binary}`]).status === 0) return;
  console.error(`installing ${pkg} (for the ${binary} baseline)...`);
  const sudo = process.getuid && process.getuid() === 0 ? [] : ['sudo', '-n'];
  const run = (args) => execFileSync(sudo[0] ?? args[0], sudo.length ? [...sudo.slice(1), ...args] : args.slice(1), { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  run(['apt-get', 'update', '-qq']);
  run(['apt-get', 'install', '-y', '-qq', pkg]);
}

/** Peak RssAnon (kB) of the given pids, sampled every `ms` until stop() is called. */
function sampleAnon(pids, ms = 100) {
  const peak = new Map(pids.map((p) => [p, 0]));
  const read = () => {
    for (const pid of pids) {
      try {
        const m = /RssAnon:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
        if (m) peak.set(pid, Math.max(peak.get(pid), Number(m[1])));
      } catch {
        /* the process is gone */
      }
    }
  };
  read();
  const t = setInterval(read, ms);
  return () => {
    clearInterval(t);
    read();
    return peak;
  };
}

/** CPU seconds { user, sys } each pid has used so far, from /proc/PID/stat (0 for a pid that is gone). */
function cpuSeconds(pids) {
  const tick = 100; // USER_HZ, 100 on every Linux we run on
  return new Map(
    pids.map((pid) => {
      try {
        // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
        const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
        return [pid, { user: Number(f[11]) / tick, sys: Number(f[12]) / tick }];
      } catch {
        return [pid, { user: 0, sys: 0 }];
      }
    }),
  );
}

/**
 * nginx as our own process on a free port of `host` (loopback by default), serving `root`; stop()
 * kills it. `prefix` starts it under another command (bench:fleet: `ip netns exec NS`).
 */
async function startNginx(root, work, { host = '127.0.0.1', prefix = [] } = {}) {
  ensureTool('nginx', 'nginx');
  const port = await freePort();
  mkdirSync(join(work, 'logs'), { recursive: true });
  const conf = join(work, 'nginx.conf');
  writeFileSync(
    conf,
    `worker_processes 1;
pid ${work}/nginx.pid;
error_log ${work}/logs/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  client_body_temp_path ${work}/tmp_body;
  proxy_temp_path ${work}/tmp_proxy;
  fastcgi_temp_path ${work}/tmp_fcgi;
  uwsgi_temp_path ${work}/tmp_uwsgi;
  scgi_temp_path ${work}/tmp_scgi;
  server { listen ${host}:${port}; root ${root}; }
}
`,
  );
  const nginx = spawnSync('sh', ['-c', 'command -v nginx']).stdout.toString().trim();
  const argv = [...prefix, nginx, '-p', work, '-c', conf, '-g', 'daemon off;'];
  const proc = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr.on('data', (d) => (err += d));
  await waitForPort(host, port, 'nginx', () => (proc.exitCode !== null ? `nginx exited: ${err}` : undefined));
  return { url: `http://${host}:${port}`, pid: proc.pid, stop: () => proc.kill('SIGTERM') };
}

function canConnect(port, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const s = net.connect(port, host);
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

/** Wait (up to 10 s) until something listens on host:port; `failed()` names a reason to stop early. */
async function waitForPort(host, port, what, failed = () => undefined) {
  for (let i = 0; i < 200; i++) {
    const why = failed();
    if (why) throw new Error(why);
    if (await canConnect(port, host)) return;
    await sleep(50);
  }
  throw new Error(`${what} does not listen on ${host}:${port} after 10 s`);
}

/** Run a command, resolve with seconds taken; reject on a non-zero exit or after timeoutMs. */
function timed(cmd, args, timeoutMs = 10 * 60_000) {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => (err = (err + d).slice(-2000)));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('exit', (code, sig) => {
      clearTimeout(timer);
      if (code === 0) resolve(now() - t0);
      else reject(new Error(`${cmd} ${args.join(' ')} failed (${code ?? sig}): ${err}`));
    });
  });
}

// ---- BitTorrent baseline: a .torrent made here, a tiny HTTP tracker, and aria2c on both ends ----

function bencode(v) {
  if (typeof v === 'number') return Buffer.from(`i${v}e`);
  if (Buffer.isBuffer(v)) return Buffer.concat([Buffer.from(`${v.length}:`), v]);
  if (typeof v === 'string') return bencode(Buffer.from(v));
  if (Array.isArray(v)) return Buffer.concat([Buffer.from('l'), ...v.map(bencode), Buffer.from('e')]);
  const keys = Object.keys(v).sort();
  return Buffer.concat([Buffer.from('d'), ...keys.flatMap((k) => [bencode(k), bencode(v[k])]), Buffer.from('e')]);
}

/** A single-file .torrent (piece SHA-1s) announcing to `announce`. */
function makeTorrent(path, name, announce, pieceLength = 1 << 20) {
  const fd = openSync(path, 'r');
  const piece = Buffer.allocUnsafe(pieceLength);
  const hashes = [];
  let length = 0;
  for (;;) {
    const n = readSync(fd, piece, 0, pieceLength, null);
    if (n === 0) break;
    hashes.push(createHash('sha1').update(piece.subarray(0, n)).digest());
    length += n;
  }
  closeSync(fd);
  return bencode({ announce, info: { length, name, 'piece length': pieceLength, pieces: Buffer.concat(hashes) } });
}

/** A minimal HTTP tracker: every announce gets the peers that announced before (compact form). */
async function startTracker() {
  const peers = new Map();
  const srv = http.createServer((req, res) => {
    const q = new URL(req.url, 'http://x').searchParams;
    const port = Number(q.get('port'));
    const id = req.url.match(/peer_id=([^&]*)/)?.[1] ?? String(port);
    const list = [...peers.entries()].filter(([k]) => k !== id).map(([, p]) => p);
    if (q.get('event') !== 'stopped') peers.set(id, port);
    const compact = Buffer.alloc(list.length * 6);
    list.forEach((p, i) => {
      compact.set([127, 0, 0, 1], i * 6);
      compact.writeUInt16BE(p, i * 6 + 4);
    });
    res.end(bencode({ interval: 5, 'min interval': 1, peers: compact }));
  });
  const port = await freePort();
  await new Promise((r) => srv.listen(port, '127.0.0.1', r));
  return { announce: `http://127.0.0.1:${port}/announce`, stop: () => srv.close() };
}

const ARIA_COMMON = ['--enable-dht=false', '--enable-dht6=false', '--bt-enable-lpd=false', '--enable-peer-exchange=false', '--console-log-level=warn', '--summary-interval=0', '--check-certificate=false', '--bt-max-peers=55', '--disable-ipv6=true'];

/**
 * aria2c seeding `dir/name` and one aria2c downloading it into `into`; resolves with the leecher's
 * seconds (start to exit, exit = download complete: --seed-time=0).
 */
async function aria2Transfer(torrent, seedDir, into, work) {
  ensureTool('aria2c', 'aria2');
  const seedPort = await freePort();
  const seeder = spawn('aria2c', [...ARIA_COMMON, '--seed-ratio=0.0', '--bt-seed-unverified=true', `--listen-port=${seedPort}`, `--dir=${seedDir}`, '--file-allocation=none', torrent], {
    stdio: 'ignore',
  });
  try {
    await sleep(1000); // the seeder announces first, so the leecher's announce returns it
    const leechPort = await freePort();
    return await timed('aria2c', [...ARIA_COMMON, '--seed-time=0', `--listen-port=${leechPort}`, `--dir=${into}`, '--file-allocation=falloc', '--max-overall-download-limit=0', torrent], 10 * 60_000);
  } finally {
    seeder.kill('SIGKILL');
  }
}

/**
 * --profile DIR: the environment that makes every service write a V8 CPU profile into DIR when it
 * exits (cpu-profile-hook.js; read them with cpu-profile-top.js); undefined without DIR.
 */
function profileEnv(dir) {
  if (!dir) return undefined;
  mkdirSync(resolve(dir), { recursive: true });
  return { NODE_OPTIONS: `--require ${resolve(__dirname, 'cpu-profile-hook.js')}`, PROF_DIR: resolve(dir) };
}

module.exports = { arg, median, sleep, now, writeRandomFile, sameBytes, freePort, ensureTool, sampleAnon, cpuSeconds, startNginx, waitForPort, profileEnv, timed, makeTorrent, startTracker, aria2Transfer, existsSync };
