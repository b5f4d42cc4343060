/**
 * Preheat (issue 14) against a real local swarm with two trackers: a job to 4 nodes with
 * --concurrency 2 that lives through the crash of the tracker running it, a node that was down
 * during the job getting the file when it returns, a node whose download fails, and a cancel that
 * stops the nodes not started yet. File sizes are small; downloads are slowed (DOWNLOAD_RATE_LIMIT)
 * only so that a job is caught in the middle.
 */
import { execFile, spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { HaveReplySchema, type PreheatJob, PreheatJobSchema, storeSubjects, TrackerSubjects } from '@swarmshare/common';
import { z } from 'zod';
import { REPO_ROOT } from '../../cli/src/launcher/service-process';
import { ownSwarm } from '../support/own-swarm';
import { waitFor } from '../support/wait';

const run = promisify(execFile);
const CLI = join(REPO_ROOT, 'cli', 'dist', 'main.js');
const KiB = 1024;
const lastLine = (s: string) => s.trim().split('\n').pop()!;

/** The swarm of this file, with its own nats-server and redis-server: the test kills its tracker. */
const sfx = Math.random().toString(36).slice(2, 7);
const [A, B, C, D, E] = ['a', 'b', 'c', 'd', 'e'].map((n) => `ph${n}-${sfx}`);
const own = ownSwarm('ss-preheat-', {
  nodes: 5,
  nodeIds: [A, B, C, D, E],
  // A short lease, so a crashed tracker's job is taken over within seconds; slowed downloads
  // (768 KiB at 256 KiB/s: about 3 s each), so a job is seen running.
  extraEnv: { ANNOUNCE_INTERVAL_MS: '500', PEER_TTL_MS: '5000', PREHEAT_LEASE_MS: '3000', DOWNLOAD_RATE_LIMIT: '256KiB' },
});

const cliArgs = (args: string[]) => [CLI, '--data', own.swarm.dataDir, '--timeout', '20000', ...args];

async function cli(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, cliArgs(args), { timeout: 120_000 });
}

/** The CLI as a child we can wait on while the test does other things (kills the tracker); its stderr so far. */
function cliRunning(args: string[]): { done: Promise<{ code: number | null; stdout: string; stderr: string }>; stderr: () => string } {
  let stdout = '';
  let stderr = '';
  const p = spawn(process.execPath, cliArgs(args), { stdio: ['ignore', 'pipe', 'pipe'] });
  p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const timer = setTimeout(() => p.kill('SIGKILL'), 120_000);
    p.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  return { done, stderr: () => stderr };
}

/** The most nodes running at once, from the job's recorded start and end sequence numbers. */
function mostAtOnce(job: PreheatJob): number {
  const events: Array<[number, number]> = [];
  for (const n of job.nodes) {
    if (n.startSeq !== undefined) events.push([n.startSeq, +1]);
    if (n.endSeq !== undefined) events.push([n.endSeq, -1]);
  }
  let running = 0;
  let most = 0;
  for (const [, d] of events.sort((a, b) => a[0] - b[0])) {
    running += d;
    most = Math.max(most, running);
  }
  return most;
}

describe('swarmshare preheat (issue 14)', () => {
  const job = (jobId: string) => own.rpc.request(TrackerSubjects.preheatStatus, { jobId }, PreheatJobSchema);
  const stateOf = (j: PreheatJob, node: string) => j.nodes.find((n) => n.nodeId === node)!;
  async function chunksHeld(node: string, fileId: string): Promise<number | 'NOT_FOUND'> {
    try {
      return (await own.rpc.request(storeSubjects(node).have, { fileId }, HaveReplySchema)).present;
    } catch (e) {
      if ((e as { code?: string }).code === 'NOT_FOUND') return 'NOT_FOUND';
      throw e;
    }
  }
  async function share(name: string, size: number): Promise<string> {
    const data = Buffer.allocUnsafe(size);
    randomFillSync(data);
    const path = join(own.dir, name);
    writeFileSync(path, data);
    return lastLine((await cli(['share', path, '--node', A, '--chunk-size', '64KiB'])).stdout);
  }

  beforeAll(async () => {
    // A second tracker in the queue group: both run preheat runners, and the lease picks one per job.
    await own.swarm.startTracker();
    await waitFor('all nodes announced', async () => {
      const peers = await own.rpc.request(TrackerSubjects.listPeers, {}, z.array(z.object({ nodeId: z.string() })));
      return [A, B, C, D, E].every((n) => peers.some((p) => p.nodeId === n));
    });
  }, 60_000);

  it('refuses a preheat without exactly one choice of nodes, or with a concurrency out of range (exit 2)', async () => {
    const fileId = 'f'.repeat(64);
    for (const args of [['preheat', fileId], ['preheat', fileId, '--all', '--nodes', B], ['preheat', fileId, '--all', '--concurrency', '0'], ['preheat', fileId, '--percent', '150']]) {
      const r = await run(process.execPath, cliArgs(args)).then(
        () => ({ code: 0, stderr: '' }),
        (e: { code: number; stderr: string }) => e,
      );
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/--nodes|--concurrency|--percent/);
    }
  });

  it("the README's preheat example works as written (with this swarm's node ids)", async () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const line = /^npx swarmshare (preheat <ID> [^#]*?)\s*#/m.exec(readme)![1];
    const fileId = await share('readme.bin', 64 * KiB);
    const args = line.replace('<ID>', fileId).replace('b,c', `${B},${C}`).split(/\s+/);
    const out = await cli(args);
    const j = await job(lastLine(out.stdout));
    expect(j).toMatchObject({ fileId, concurrency: 2, state: 'done' });
    expect(j.nodes.map((n) => n.state)).toEqual(['done', 'done']);
    expect(out.stderr).toMatch(new RegExp(`node ${B}: done`));
  }, 60_000);

  it('to 4 nodes with --concurrency 2, with two trackers, through the crash and restart of the one running it: every node gets the file, never more than 2 at once', async () => {
    const fileId = await share('four.bin', 768 * KiB + 5);
    const cmd = cliRunning(['preheat', fileId.slice(0, 12), '--nodes', [B, C, D, E].join(','), '--concurrency', '2', '--json']);
    // The job (the CLI names it when it starts it), once two nodes run.
    const jobId = await waitFor('the CLI to start the job', async () => /preheat (ph-[0-9a-f]{16}):/.exec(cmd.stderr())?.[1], 30_000, 100);
    const started = await waitFor('the job to run two nodes', async () => {
      const j = await job(jobId);
      return j.nodes.filter((n) => n.state === 'running').length === 2 ? j : undefined;
    }, 60_000, 100);
    expect(started.nodes.filter((n) => n.state === 'queued').length).toBe(2);

    // Two trackers serve the swarm; the one running the job (its lease's owner names its pid)
    // crashes: no shutdown, so its lease is not given back. It comes back as a new process.
    expect(started.owner).toBeDefined();
    const owner = own.swarm.tracker.findIndex((t) => started.owner!.split(':')[1] === String(t.proc.pid));
    expect(owner).toBeGreaterThanOrEqual(0);
    await own.swarm.tracker[owner].stop('SIGKILL');
    await own.swarm.respawn(`tracker-${owner}`);
    // Once the lease expires, the other tracker or the restarted one takes the job over.
    const resumed = await waitFor('another tracker to run the job', async () => {
      const j = await job(jobId);
      return j.owner !== undefined && j.owner !== started.owner ? j : undefined;
    }, 30_000, 100);
    expect(resumed.nodes.some((n) => n.state === 'running' || n.state === 'queued')).toBe(true);

    const out = await cmd.done;
    expect(out.stderr).not.toMatch(/swarmshare: /);
    expect(out.code).toBe(0);
    const final = PreheatJobSchema.parse(JSON.parse(lastLine(out.stdout)));
    expect(final).toMatchObject({ jobId: started.jobId, fileId, concurrency: 2, state: 'done' });
    expect(final.nodes.map((n) => [n.nodeId, n.state])).toEqual([B, C, D, E].sort().map((n) => [n, 'done']));
    // The limit, from the job's own record: the peak kept by the tracker and the order of starts and ends.
    expect(final.peakRunning).toBe(2);
    expect(mostAtOnce(final)).toBe(2);
    for (const n of [B, C, D, E]) expect(await chunksHeld(n, fileId)).toBe(13);
  }, 150_000);

  it('a node down during the preheat is reported pending, and gets the file when it comes back', async () => {
    const fileId = await share('down.bin', 256 * KiB);
    await own.swarm.stopNode(E);
    const out = await cli(['preheat', fileId, '--nodes', `${D},${E}`]);
    // Without --json: the job id on stdout, each node's result on stderr.
    const j = await job(lastLine(out.stdout));
    expect(j.state).toBe('waiting');
    expect(stateOf(j, D).state).toBe('done');
    expect(stateOf(j, E).state).toBe('down');
    expect(stateOf(j, E).error).toMatch(/did not answer/);
    expect(out.stderr).toMatch(new RegExp(`node ${E}: pending: node down`));

    await own.swarm.startNode(E);
    const done = await waitFor('the returning node to be preheated', async () => {
      const x = await job(j.jobId);
      return x.state === 'done' ? x : undefined;
    }, 60_000, 200);
    expect(stateOf(done, E).state).toBe('done');
    expect(stateOf(done, E).attempts).toBeGreaterThanOrEqual(2);
    expect(await chunksHeld(E, fileId)).toBe(4);
    // `--status` shows the ended job.
    const shown = await cli(['preheat', '--status', j.jobId]);
    expect(lastLine(shown.stdout)).toBe(j.jobId);
    expect(shown.stderr).toMatch(new RegExp(`node ${E}: done`));
  }, 120_000);

  it('a node whose download fails is reported failed with the reason, and the CLI exits 4', async () => {
    const fileId = await share('orphan.bin', 64 * KiB);
    // Its only copy deleted: the file stays registered, with no holder to download from.
    await own.rpc.request(TrackerSubjects.deleteFile, { fileId, nodeId: A }, z.unknown());
    const out = await run(process.execPath, cliArgs(['preheat', fileId, '--nodes', B])).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(out.code).toBe(4);
    expect(out.stderr).toMatch(new RegExp(`node ${B}: failed \\(UNAVAILABLE: .*no (peer|holder)`));
    expect(out.stderr).toMatch(/swarmshare: UNAVAILABLE: 1 node\(s\) could not preheat/);
  }, 90_000);

  it('--cancel stops the nodes not started yet; the one running finishes', async () => {
    const fileId = await share('cancel.bin', 1024 * KiB);
    const started = PreheatJobSchema.parse(JSON.parse(lastLine((await cli(['preheat', fileId, '--nodes', [B, C, D, E].join(','), '--concurrency', '1', '--detach', '--json'])).stdout)));
    await waitFor('one node running', async () => (await job(started.jobId)).nodes.some((n) => n.state === 'running'), 30_000, 100);
    const out = await cli(['preheat', '--cancel', started.jobId, '--json']);
    const cancelled = PreheatJobSchema.parse(JSON.parse(lastLine(out.stdout)));
    expect(cancelled.state).toBe('cancelled');
    const ran = cancelled.nodes.filter((n) => n.state === 'running' || n.state === 'done');
    // One at a time: the first node (perhaps a second, on a slow machine) started; the rest never will.
    expect(ran.filter((n) => n.state === 'running')).toHaveLength(1);
    expect(cancelled.nodes.filter((n) => n.state === 'cancelled')).toHaveLength(4 - ran.length);
    expect(ran.length).toBeLessThanOrEqual(2);
    const runningNode = ran.find((n) => n.state === 'running')!;

    const ended = await waitFor('the running download to finish', async () => {
      const x = await job(started.jobId);
      return stateOf(x, runningNode.nodeId).state === 'done' ? x : undefined;
    }, 60_000, 200);
    expect(ended.state).toBe('cancelled');
    for (const n of ended.nodes.filter((x) => !ran.some((r) => r.nodeId === x.nodeId))) {
      expect(n).toMatchObject({ state: 'cancelled', attempts: 0 });
      expect(await chunksHeld(n.nodeId, fileId)).toBe('NOT_FOUND');
    }
  }, 120_000);

});
