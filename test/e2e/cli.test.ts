/**
 * The `swarmshare` command as a user runs it (issue 13): the built binary through the bin link npm
 * made, against a real local swarm. Where the message is the feature, it is asserted verbatim.
 */
import { execFile } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { connect, type NatsConnection } from 'nats';
import { z } from 'zod';
import { DownloadStatusSchema, FileRecordSchema, gatewaySubjects, NatsRpc, natsServerOptions, TrackerSubjects } from '@swarmshare/common';
import { LocalSwarm } from '../../cli/src/launcher/local-swarm';
import { REPO_ROOT } from '../../cli/src/launcher/service-process';

const run = promisify(execFile);
const MiB = 1024 * 1024;
/** The link `npm ci` makes from cli/package.json's "bin": what `npx swarmshare` runs. */
const BIN = join(REPO_ROOT, 'node_modules', '.bin', 'swarmshare');
const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, 'cli', 'package.json'), 'utf8')) as { version: string }).version;

type Result = { stdout: string; stderr: string; code: number };
/** Run the installed command; never throws, so failures can be asserted like successes. */
async function swarmshare(args: string[], opts: { cwd?: string } = {}): Promise<Result> {
  try {
    const r = await run(BIN, args, { maxBuffer: 64 * MiB, timeout: 180_000, cwd: opts.cwd });
    return { ...r, code: 0 };
  } catch (e) {
    const err = e as { stdout: string; stderr: string; code: number };
    return { stdout: err.stdout, stderr: err.stderr, code: err.code };
  }
}

describe('set-up: the bin link and --version', () => {
  it('npm linked node_modules/.bin/swarmshare to the committed shim, and it prints the version', async () => {
    expect(existsSync(BIN)).toBe(true);
    expect(resolve(join(REPO_ROOT, 'node_modules', '.bin'), readlinkSync(BIN))).toBe(join(REPO_ROOT, 'node_modules', 'swarmshare', 'bin', 'swarmshare.js'));
    expect(await swarmshare(['--version'])).toEqual({ stdout: `${VERSION}\n`, stderr: '', code: 0 });
    // Exactly as the README says it: npx finds the same link.
    const npx = await run('npx', ['swarmshare', '--version'], { cwd: REPO_ROOT, timeout: 60_000 });
    expect(npx.stdout).toBe(`${VERSION}\n`);
  });

  it("every command's help lists every option it takes, the global ones included", async () => {
    const global = ['--data <dir>', '--nats <url>', '--timeout <ms>', '--version'];
    const own: Record<string, string[]> = {
      up: ['--nodes <n>', '--redis <url>'],
      share: ['--node <id>', '--chunk-size <size>', '--name <name>', '--replicas <n>', '--alloc <sizes>', '--no-interactive', '--json'],
      fetch: ['--node <id>', '--output <path>', '--discover <how>', '--peers <list>', '--json'],
      ls: ['--json'],
      peers: ['--node <id>', '--json'],
      demo: ['--size <size>'],
    };
    for (const [cmd, options] of Object.entries(own)) {
      const help = (await swarmshare([cmd, '--help'])).stdout;
      for (const o of [...options, ...global]) expect({ cmd, has: o, ok: help.includes(o) }).toEqual({ cmd, has: o, ok: true });
    }
  });
});

describe('the CLI against a real local swarm', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ss-cli-'));
  const sfx = Math.random().toString(36).slice(2, 6);
  const [A, B, C] = ['a', 'b', 'c'].map((n) => `cli${n}-${sfx}`);
  let swarm: LocalSwarm;
  let nc: NatsConnection;
  let rpc: NatsRpc;
  let nats: string[];
  const files: Record<string, { path: string; id: string; data: Buffer }> = {};

  const cli = (args: string[]) => swarmshare([...nats, ...args]);
  const getFile = (fileId: string) => rpc.request(TrackerSubjects.getFile, { fileId }, FileRecordSchema);
  function randomFile(name: string, size: number) {
    const data = Buffer.allocUnsafe(size);
    randomFillSync(data);
    const path = join(dir, name);
    writeFileSync(path, data);
    return { path, data };
  }
  async function shared(name: string, size: number, node = A) {
    const f = randomFile(name, size);
    const r = await cli(['share', f.path, '--node', node]);
    expect(r.code).toBe(0);
    return (files[name] = { ...f, id: r.stdout.trim().split('\n').pop()! });
  }

  beforeAll(async () => {
    swarm = await LocalSwarm.start({ nodes: 3, nodeIds: [A, B, C], dataDir: dir, natsUrl: process.env.NATS_URL, redisUrl: process.env.REDIS_URL, extraEnv: { ANNOUNCE_INTERVAL_MS: '500' } });
    nc = await connect({ servers: process.env.NATS_URL });
    rpc = new NatsRpc(nc, 10_000);
    nats = ['--nats', process.env.NATS_URL!, '--data', dir];
  });

  afterAll(async () => {
    await nc?.drain();
    await swarm?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('short ids: any unique prefix of 8+ hex characters works; too short or unknown ones are refused clearly', async () => {
    const f = await shared('short.bin', 3 * MiB + 5);
    const ls = await cli(['ls']);
    expect(ls.stdout).toContain(f.id.slice(0, 16));
    const out = join(dir, 'short.out');
    const got = await cli(['fetch', f.id.slice(0, 8), '--node', B, '-o', out]);
    expect(got.code).toBe(0);
    expect(readFileSync(out).equals(f.data)).toBe(true);
    expect(await cli(['fetch', f.id.slice(0, 7), '--node', B])).toEqual({
      stdout: '',
      stderr: `swarmshare: BAD_REQUEST: "${f.id.slice(0, 7)}" is not a file id: a file id must be 64 lowercase hex characters, or a unique prefix of at least 8 of them (\`swarmshare ls\` lists the files)\n`,
      code: 2,
    });
    const unknown = f.id.startsWith('00000000') ? 'ffffffff' : '00000000';
    expect((await cli(['fetch', unknown, '--node', B])).stderr).toBe(`swarmshare: NOT_FOUND: no file id starts with ${unknown}: \`swarmshare ls\` lists the files\n`);
    // No stray "(message):" from the schema, whatever the bad id.
    expect((await cli(['fetch', 'not-an-id', '--node', B])).stderr).not.toContain('(message)');
  });

  it('fetch fails early: a node that is not running, and an -o directory that does not exist, before anything is printed or moved', async () => {
    const f = await shared('early.bin', 2 * MiB);
    expect(await cli(['fetch', f.id, '--node', 'z'])).toEqual({
      stdout: '',
      stderr: 'swarmshare: UNAVAILABLE: node z does not answer: is it running? (`swarmshare peers` lists live nodes)\n',
      code: 4,
    });
    expect(await cli(['fetch', f.id, '--node', B, '-o', '/no/such/dir/out.bin'])).toEqual({
      stdout: '',
      stderr: 'swarmshare: NOT_FOUND: cannot write to /no/such/dir/out.bin: the directory /no/such/dir does not exist; create it first (mkdir -p /no/such/dir)\n',
      code: 3,
    });
    // Node b never started a download of it.
    await expect(rpc.request(gatewaySubjects(B).status, { fileId: f.id }, DownloadStatusSchema)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect((await getFile(f.id)).leechers).toEqual([]);
  });

  it('share --alloc fails early: empty entries, the sharing node itself, an unknown node, all before hashing', async () => {
    const f = randomFile('alloc-bad.bin', 4 * MiB);
    // Exit status by class (docs/cli.md): 2 for bad input, 4 for a peer that is not there.
    const check = async (alloc: string, stderr: string, code: number) => {
      const r = await cli(['share', f.path, '--node', A, '--alloc', alloc]);
      expect({ alloc, code: r.code, last: r.stderr.trim().split('\n').pop() }).toEqual({ alloc, code, last: stderr });
      expect(r.stderr).not.toContain('hashing');
    };
    await check(`${B}=1MiB,,${C}=1MiB`, `swarmshare: BAD_REQUEST: --alloc "${B}=1MiB,,${C}=1MiB" has an empty entry: separate NODE=SIZE entries with single commas, e.g. b=64MiB,c=32MiB`, 2);
    await check(`${A}=64MiB`, `swarmshare: BAD_REQUEST: --alloc names ${A}, the node that shares the file (--node ${A}): it keeps the original; allocate copies on other peers`, 2);
    await check(`zz-${sfx}=1MiB`, `swarmshare: UNAVAILABLE: --alloc names zz-${sfx}, which is not a live peer (\`swarmshare peers\` lists them)`, 4);
    // Nothing reached node a.
    const held = await rpc.request(TrackerSubjects.listFiles, {}, z.array(FileRecordSchema));
    expect(held.some((r) => r.name === 'alloc-bad.bin')).toBe(false);
  });

  it('re-fetch of a held file says so, reports this call only, and is not counted (nor is the source fetching its own file)', async () => {
    const f = await shared('again.bin', 3 * MiB);
    const first = await cli(['fetch', f.id, '--node', B, '--json']);
    expect(JSON.parse(first.stdout)).toMatchObject({ fileId: f.id, name: 'again.bin', node: B, alreadyHeld: false, bytesReceived: f.data.length, fromPeers: { [A]: f.data.length } });
    expect((await getFile(f.id)).downloads).toBe(1);
    const again = await cli(['fetch', f.id, '--node', B, '--json']);
    expect(again.stderr).toContain(`node ${B} already holds all 3 chunks of again.bin: nothing downloaded, not counted as a download\n`);
    expect(again.stderr).not.toContain('received');
    expect(JSON.parse(again.stdout)).toMatchObject({ alreadyHeld: true, bytesReceived: 0, fromPeers: {}, discovery: null, output: null });
    const own = await cli(['fetch', f.id, '--node', A, '--discover', 'flood']);
    expect(own.stderr).toContain(`node ${A} already holds all 3 chunks of ${f.id.slice(0, 16)}: nothing downloaded, not counted as a download\n`);
    expect((await getFile(f.id)).downloads).toBe(1);
  });

  it('the progress bar has a total in a trackerless fetch too', async () => {
    const f = await shared('flood.bin', 6 * MiB);
    const r = await cli(['fetch', f.id, '--node', C, '--discover', 'flood']);
    expect(r.code).toBe(0);
    const bars = r.stderr.split('\n').filter((l) => l.startsWith(`node ${C}`) && l.includes('['));
    expect(bars.length).toBeGreaterThan(0);
    expect(bars[bars.length - 1]).toContain('6.0 MiB / 6.0 MiB');
    expect(r.stderr).not.toMatch(/\/ 0 B/);
  });

  it('ls and the tracker list replica holders with a share apart from seeders; --json for ls, peers and share', async () => {
    const f = randomFile('split.bin', 8 * MiB);
    const sh = await cli(['share', f.path, '--node', A, '--alloc', `${B}=2MiB,${C}=6MiB`, '--json']);
    expect(sh.code).toBe(0);
    const summary = JSON.parse(sh.stdout);
    expect(summary).toMatchObject({ name: 'split.bin', size: 8 * MiB, chunkCount: 8, node: A, replication: { replicas: 1 } });
    const id = summary.fileId as string;
    const byNode = Object.fromEntries((summary.replication.peers as Array<{ nodeId: string; chunks: number }>).map((p) => [p.nodeId, p.chunks]));
    expect(byNode).toEqual({ [B]: 2, [C]: 6 });
    const rec = await getFile(id);
    expect(rec.seeders.map((s) => s.nodeId)).toEqual([A]);
    expect((rec.partial ?? []).map((s) => s.nodeId).sort()).toEqual([B, C].sort());
    const ls = await cli(['ls']);
    expect(ls.stdout.split('\n')[0]).toMatch(/^ID\s+NAME\s+SIZE\s+CHUNKS\s+SEEDERS\s+PARTIAL\s+LEECHERS\s+REPLICAS\s+DOWNLOADS\s+EXPIRES\s+PINNED$/);
    // No TTL, no pins: EXPIRES and PINNED are `-`.
    expect(ls.stdout).toMatch(new RegExp(`^${id.slice(0, 16)}\\s+split\\.bin\\s+8\\.0 MiB\\s+8\\s+${A}\\s+(${B},${C}|${C},${B})\\s+-\\s+1x\\s+0\\s+-\\s+-$`, 'm'));
    const listing = JSON.parse((await cli(['ls', '--json'])).stdout) as Array<Record<string, unknown>>;
    expect(listing.find((x) => x.fileId === id)).toMatchObject({ name: 'split.bin', seeders: [{ nodeId: A }], leechers: [], downloads: 0, replicas: 1 });
    const peers = JSON.parse((await cli(['peers', '--json'])).stdout) as Array<{ nodeId: string; files: Array<{ fileId: string; holds: string }> }>;
    expect(peers.find((p) => p.nodeId === B)?.files).toContainEqual({ fileId: id, name: 'split.bin', holds: 'partial' });
    expect(peers.find((p) => p.nodeId === A)?.files).toContainEqual({ fileId: id, name: 'split.bin', holds: 'complete' });
    const neighbours = JSON.parse((await cli(['peers', '--node', B, '--json'])).stdout);
    expect(neighbours).toMatchObject({ nodeId: B, neighbours: expect.any(Array) });
  });
});

describe("the README's \"Using it\" examples, exactly as written", () => {
  /** The lines of the first code block under "## Using it", comments dropped. */
  function examples(): string[] {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Using it'));
    const block = /```\n([\s\S]*?)```/.exec(section)![1];
    return block
      .split('\n')
      .map((l) => l.replace(/\s+#.*$/, '').trim())
      .filter(Boolean);
  }

  it('runs every one of them, in order, in a fresh directory, on a file over 96 MiB', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'ss-readme-'));
    // A directory of the user's with the project's node_modules, as after `npm ci`: npx finds the link.
    require('node:fs').symlinkSync(join(REPO_ROOT, 'node_modules'), join(cwd, 'node_modules'));
    const big = Buffer.allocUnsafe(100 * MiB + 1);
    randomFillSync(big);
    writeFileSync(join(cwd, 'big.iso'), big);
    const sh = (line: string) => run('bash', ['-c', line], { cwd, maxBuffer: 64 * MiB, timeout: 300_000 });
    const lines = examples();
    expect(lines[0]).toBe('npx swarmshare --version');
    expect(lines.some((l) => l.startsWith('npx swarmshare up '))).toBe(true);
    let up: ReturnType<typeof import('node:child_process').spawn> | undefined;
    let id = '';
    let job = '';
    try {
      for (const line of lines) {
        if (line.startsWith('npx swarmshare up ')) {
          up = require('node:child_process').spawn('bash', ['-c', `exec ${line}`], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
          let err = '';
          up!.stderr!.on('data', (d: Buffer) => (err += d));
          const deadline = Date.now() + 90_000;
          while (!err.includes('swarm ready')) {
            if (Date.now() > deadline || up!.exitCode !== null) throw new Error(`\`${line}\` did not come up: ${err}`);
            await new Promise((r) => setTimeout(r, 200));
          }
          continue;
        }
        const r = await sh(line.replace('<ID>', id).replace('<JOB>', job)).catch((e: { stderr: string }) => {
          throw new Error(`\`${line}\` failed: ${e.stderr}`);
        });
        if (line.includes(' share ')) id = r.stdout.trim().split('\n').pop()!;
        if (line.includes(' preheat <ID>')) job = r.stdout.trim().split('\n').pop()!;
        if (line.includes(' preheat <ID>')) expect(job).toMatch(/^ph-[0-9a-f]{16}$/);
        if (line.includes(' share ')) expect(id).toMatch(/^[0-9a-f]{64}$/);
        if (line.includes('-o ./copy.iso')) expect(readFileSync(join(cwd, 'copy.iso')).equals(big)).toBe(true);
      }
      // The plain-JSON subjects of the next example answer too (here through nats.js; the `nats` CLI is not installed).
      const cluster = JSON.parse(readFileSync(join(cwd, '.swarmshare', 'cluster.json'), 'utf8'));
      const nc = await connect(natsServerOptions(cluster.natsUrl, cluster.natsCa));
      try {
        const r = new NatsRpc(nc, 10_000);
        expect((await r.request('swarm.tracker.file.list', {}, z.array(FileRecordSchema))).map((f) => f.name)).toEqual(['big.iso']);
        expect((await r.request('swarm.tracker.peer.list', {}, z.array(z.object({ nodeId: z.string() })))).map((p) => p.nodeId).sort()).toEqual(['a', 'b', 'c']);
        expect(await r.request('swarm.node.a.store.files', {}, z.array(z.object({ name: z.string() })))).toMatchObject([{ name: 'big.iso' }]);
      } finally {
        await nc.drain();
      }
    } finally {
      if (up && up.exitCode === null) {
        // Ctrl-C to `swarmshare up` itself (its pid is recorded), as a user at its terminal would.
        const pid = Number(JSON.parse(readFileSync(join(cwd, '.swarmshare', 'cluster.json'), 'utf8')).pid);
        const exited = new Promise((r) => up!.once('exit', r));
        process.kill(pid, 'SIGINT');
        await exited;
      }
      rmSync(cwd, { recursive: true, force: true });
    }
  }, 900_000);
});
