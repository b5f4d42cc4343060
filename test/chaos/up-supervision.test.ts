import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../../cli/src/launcher/service-process';

/**
 * `swarmshare up` as a user runs it (real processes, its own nats-server and redis-server): services
 * that die are restarted with the same environment, and the whole swarm stops whichever process
 * gets the signal — npx, or `up` orphaned by its parent — leaving no process behind.
 */
const run = promisify(execFile);
const CLI = join(REPO_ROOT, 'cli', 'dist', 'main.js');
const READY_MS = 60_000;
const RESTART_BOUND_MS = 15_000;
const STOP_BOUND_MS = 20_000;

interface Up {
  proc: ChildProcess;
  dir: string;
  stderr: () => string;
}

function startUp(how: 'node' | 'npx' | 'sh'): Up {
  const dir = mkdtempSync(join(tmpdir(), `ss-up-${how}-`));
  const args = ['up', '--nodes', '1', '--data', dir];
  const proc =
    how === 'node'
      ? spawn(process.execPath, [CLI, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] })
      : how === 'npx'
        ? spawn('npx', ['--no-install', 'swarmshare', ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] })
        : // `; :` keeps the shell alive as up's parent (no exec of a lone command), as npm's `sh -c` does.
          spawn('sh', ['-c', `"${process.execPath}" "${CLI}" ${args.join(' ')}; :`], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return { proc, dir, stderr: () => err };
}

async function until<T>(what: string, bound: number, probe: () => T | undefined | Promise<T | undefined>, up?: Up): Promise<T> {
  const deadline = Date.now() + bound;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${bound} ms${up ? `; up said:\n${up.stderr()}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function pids(up: Up): Record<string, number> {
  return JSON.parse(readFileSync(join(up.dir, 'cluster.json'), 'utf8')).pids;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function ready(up: Up): Promise<Record<string, number>> {
  await until('swarm ready', READY_MS, () => (up.stderr().includes('press Ctrl-C') ? true : undefined), up);
  const p = pids(up);
  expect(Object.keys(p).sort()).toEqual(['a-chunk-store', 'a-peer-gateway', 'nats-server', 'redis-server', 'tracker-0']);
  return p;
}

async function allGone(up: Up, before: Record<string, number>): Promise<void> {
  await until('every process of the swarm gone', STOP_BOUND_MS, () => (Object.values(before).some(alive) ? undefined : true), up);
}

describe('swarmshare up: supervision and stopping', () => {
  const ups: Up[] = [];
  const launch = (how: 'node' | 'npx' | 'sh') => {
    const u = startUp(how);
    ups.push(u);
    return u;
  };

  afterAll(async () => {
    for (const u of ups) {
      // Whatever a failed assertion left running is stopped here, never by another test.
      const left = (() => {
        try {
          return Object.values(pids(u));
        } catch {
          return [];
        }
      })();
      u.proc.kill('SIGKILL');
      for (const pid of left) if (alive(pid)) process.kill(pid, 'SIGKILL');
      rmSync(u.dir, { recursive: true, force: true });
    }
  });

  it('restarts a killed peer-gateway and chunk-store with the same environment, and the node works after', async () => {
    const up = launch('node');
    const before = await ready(up);
    for (const name of ['a-peer-gateway', 'a-chunk-store']) {
      const old = pids(up)[name];
      process.kill(old, 'SIGKILL');
      const t0 = Date.now();
      const fresh = await until(`${name} restarted`, RESTART_BOUND_MS, () => (up.stderr().includes(`${name} is running again`) && pids(up)[name] !== old ? pids(up)[name] : undefined), up);
      expect(alive(fresh)).toBe(true);
      expect(up.stderr()).toContain(`warning: ${name} pid ${old} exited with code null signal SIGKILL; restarting it`);
      process.stdout.write(`${name} back after ${Date.now() - t0} ms\n`);
    }
    // Same environment: same node id, same data directory and peer port, so a share into node a works.
    const file = join(up.dir, 'small.bin');
    writeFileSync(file, Buffer.alloc(300_000, 7));
    const { stdout } = await run(process.execPath, [CLI, 'share', file, '--node', 'a', '--data', up.dir], { timeout: 60_000 });
    expect(stdout.trim().split('\n').pop()).toMatch(/^[0-9a-f]{64}$/);
    up.proc.kill('SIGTERM');
    await allGone(up, { ...before, ...pids(up) });
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('%s sent to the npx process stops the whole swarm', async (sig) => {
    const up = launch('npx');
    const before = await ready(up);
    up.proc.kill(sig);
    await allGone(up, before);
    // `up` says "stopped" once swarm.stop() returns, a moment after its last child is gone: wait until
    // it has exited and its stderr has been read to the end.
    await until('the up process exited', STOP_BOUND_MS, () => (up.proc.stderr!.readableEnded ? true : undefined), up);
    expect(up.stderr()).toContain(`${sig}: stopping the swarm`);
    expect(up.stderr()).toContain('stopped');
  });

  it('stops everything when its parent process dies without passing a signal on', async () => {
    const up = launch('sh');
    const before = await ready(up);
    up.proc.kill('SIGKILL');
    await allGone(up, before);
    expect(up.stderr()).toMatch(/the parent process \(pid \d+\) is gone: stopping the swarm/);
  });
});
