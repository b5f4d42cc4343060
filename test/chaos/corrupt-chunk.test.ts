import { execFile } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LocalSwarm } from '../../cli/src/launcher/local-swarm';
import { REPO_ROOT } from '../../cli/src/launcher/service-process';

/**
 * Issue 12, fault 4: a holder's chunk rots on disk. Downloaders must not lose the holder for it,
 * the holder must notice, stop serving it and fetch it again, and `fetch -o` on that very node must
 * repair it or fail before it claims anything. Every output byte-identical.
 */
const run = promisify(execFile);
const CLI = join(REPO_ROOT, 'cli', 'dist', 'main.js');
const CHUNK = 1024 * 1024;
const REPAIR_BOUND_MS = 15_000;

describe('chaos: a corrupt chunk at a holder', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ss-chaos-corrupt-'));
  let swarm: LocalSwarm;
  const data = Buffer.allocUnsafe(24 * CHUNK + 4321);
  randomFillSync(data);
  let fileId: string;

  beforeAll(async () => {
    // No super-seeding: a just sent every chunk to c, and would otherwise send b to c for all of them.
    swarm = await LocalSwarm.start({ nodes: 4, dataDir: dir, extraEnv: { ANNOUNCE_INTERVAL_MS: '500', SUPER_SEED_MS: '0' } });
    const input = join(dir, 'rot.bin');
    writeFileSync(input, data);
    fileId = (await cli('share', input, '--node', 'a', '--chunk-size', String(CHUNK))).stdout.trim().split('\n').pop()!;
    // c holds a second full copy: the swarm can repair a.
    await cli('fetch', fileId, '--node', 'c');
  });

  afterAll(async () => {
    await swarm?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const cli = (...args: string[]) => run(process.execPath, [CLI, ...args, '--nats', swarm.urls.natsUrl, '--data', swarm.dataDir], { timeout: 120_000 });
  const dataFile = (node: string) => join(dir, 'nodes', node, 'files', fileId, 'data');
  const chunkOnDisk = (node: string, index: number) => {
    const fd = openSync(dataFile(node), 'r');
    try {
      const b = Buffer.alloc(CHUNK);
      readSync(fd, b, 0, CHUNK, index * CHUNK);
      return b;
    } finally {
      closeSync(fd);
    }
  };
  /** Flip 16 bytes of chunk `index` in node's data file, as a failing disk would. */
  const rot = (node: string, index: number) => {
    const fd = openSync(dataFile(node), 'r+');
    try {
      const at = index * CHUNK + 4096;
      const b = chunkOnDisk(node, index).subarray(4096, 4096 + 16).map((x) => x ^ 0xa5);
      writeSync(fd, Buffer.from(b), 0, 16, at);
    } finally {
      closeSync(fd);
    }
  };
  const sound = (node: string, index: number) => chunkOnDisk(node, index).equals(data.subarray(index * CHUNK, (index + 1) * CHUNK));
  async function until(what: string, ok: () => boolean, boundMs: number): Promise<number> {
    const t0 = Date.now();
    while (!ok()) {
      if (Date.now() - t0 > boundMs) throw new Error(`${what}: not within ${boundMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return Date.now() - t0;
  }

  /** Chunks node a was told (CORRUPT) were bad, from its gateway's log. */
  const noticesAtA = (): number[] =>
    readFileSync(join(dir, 'logs', 'a-peer-gateway.log'), 'utf8')
      .split('\n')
      .filter((l) => l.includes('a peer says a chunk we served failed its hash'))
      .map((l) => Number(JSON.parse(l).index));

  it('a downloader skips the bad chunk at that holder only, tells it, and the holder repairs its copy', async () => {
    // Two rotten chunks at a; b asks a for each with even odds (c holds them too), so b fetches
    // until a has been asked for one of them (at most 4 times; rm gives b a fresh start).
    rot('a', 5);
    rot('a', 11);
    const out = join(dir, 'on-b.bin');
    const t0 = Date.now();
    for (let attempt = 1; noticesAtA().length === 0; attempt++) {
      if (attempt > 4) throw new Error('b never asked node a for a rotten chunk in 4 downloads');
      if (attempt > 1) await cli('rm', fileId, '--node', 'b');
      const r = await cli('fetch', fileId, '--node', 'b', '-o', out, '--json');
      expect(readFileSync(out).equals(data)).toBe(true);
      // a stayed a holder for everything else (before: it was dropped for the whole download).
      expect(readFileSync(join(dir, 'logs', 'b-peer-gateway.log'), 'utf8')).not.toMatch(/"holder":"a".*"msg":"dropping holder"/);
      expect(JSON.parse(r.stdout.trim().split('\n').pop()!).fromPeers.a).toBeGreaterThan(0);
    }
    const told = [...new Set(noticesAtA())];
    expect(told.every((i) => i === 5 || i === 11)).toBe(true);
    const healed = await until(`node a re-fetched its corrupt chunk(s) ${told.join(', ')}`, () => told.every((i) => sound('a', i)), REPAIR_BOUND_MS);
    process.stdout.write(`corrupt chunk at a holder: b's fetch -o took ${Date.now() - t0} ms; a repaired chunk(s) ${told.join(', ')} ${healed} ms after it\n`);
  });

  it('fetch -o on the node holding the corrupt chunk repairs it first and writes a byte-identical file', async () => {
    rot('a', 17);
    const out = join(dir, 'on-a.bin');
    const t0 = Date.now();
    const r = await cli('fetch', fileId, '--node', 'a', '-o', out);
    const ms = Date.now() - t0;
    expect(readFileSync(out).equals(data)).toBe(true);
    // The first bad chunk it reads is named; the node re-hashes the whole file and repairs every bad one.
    expect(r.stderr + r.stdout).toMatch(/chunk (5|11|17) .*node a.* does not match its hash/);
    expect(r.stderr + r.stdout).toMatch(/node a found \d corrupt chunk\(s\) \([0-9, ]*17[0-9, ]*\)/);
    for (const i of [5, 11, 17]) expect(sound('a', i)).toBe(true);
    process.stdout.write(`fetch -o on the corrupt node: repaired and written in ${ms} ms\n`);
  });

  it('with no sound copy left anywhere, fetch -o fails as unavailable (exit 4) and writes nothing', async () => {
    // d fetches the file, then every copy of chunk 9 rots: a's, c's and d's.
    await cli('fetch', fileId, '--node', 'd');
    await cli('fetch', fileId, '--node', 'b');
    for (const n of ['a', 'b', 'c', 'd']) rot(n, 9);
    const out = join(dir, 'nowhere.bin');
    const err = await cli('fetch', fileId, '--node', 'd', '-o', out).then(
      () => undefined,
      (e: { code?: number; stderr?: string }) => e,
    );
    expect(err).toBeDefined();
    expect(err!.code).toBe(4); // UNAVAILABLE: no holder has a sound chunk 9
    expect(err!.stderr).toMatch(/could not fetch its corrupt chunks again/);
    expect(() => readFileSync(out)).toThrow();
  });
});
