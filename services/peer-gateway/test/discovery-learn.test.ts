import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { NatsConnection } from 'nats';
import type { NatsRpc } from '@swarmshare/common';
import type { RunningService } from '../../../test/support/services';
import { type Node, natsRpc, startNode, startTracker, uniqueId, waitForBuilds } from './cluster';
import { neighboursOf } from './overlay-helpers';

const run = promisify(execFile);
const CLI = join(__dirname, '..', '..', '..', 'cli', 'dist', 'main.js');

async function until(what: string, pred: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** How the overlay finds neighbours without a bootstrap list, and heals when one dies. */
describe('discovery: the overlay learns its neighbours', () => {
  let rpc: NatsRpc;
  let nc: NatsConnection;
  let tracker: RunningService | undefined;
  const nodes: Node[] = [];

  beforeAll(async () => {
    await waitForBuilds();
    ({ rpc, nc } = await natsRpc());
    tracker = await startTracker();
  });

  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await tracker?.stop();
    await nc?.close();
  });

  it('from the tracker when it is up, then from a neighbour list when it is down; a dead neighbour is dropped', async () => {
    const p = uniqueId('learn');
    // No bootstrap at all: a, b and c find each other through the tracker's peer list.
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((x) => startNode(`${p}-${x}`, { MIN_NEIGHBOURS: '2' })));
    nodes.push(a, b, c);
    await until('a, b and c meet through the tracker', async () => {
      const lists = await Promise.all([a, b, c].map((n) => neighboursOf(rpc, n)));
      return lists.every((l) => l.length === 2);
    });
    expect((await neighboursOf(rpc, a)).sort()).toEqual([b.id, c.id].sort());

    // Tracker down: d knows only a, and learns b and c from a's NEIGHBOURS answer.
    await tracker!.stop();
    tracker = undefined;
    const d = await startNode(`${p}-d`, { MIN_NEIGHBOURS: '3', BOOTSTRAP_PEERS: a.address });
    nodes.push(d);
    await until('d learns b and c from a', async () => (await neighboursOf(rpc, d)).length === 3);
    expect((await neighboursOf(rpc, d)).sort()).toEqual([a.id, b.id, c.id].sort());

    // `swarmshare peers --node d` shows them, without a tracker.
    const out = await run(process.execPath, [CLI, '--nats', process.env.NATS_URL!, 'peers', '--node', d.id]);
    for (const n of [a, b, c]) expect(out.stdout).toContain(n.id);
    expect(out.stdout).toContain(b.address);

    // b dies: everyone drops it, and keeps the others.
    await Promise.all([b.gateway.stop('SIGKILL'), b.store.stop('SIGKILL')]);
    await until('b is dropped', async () => {
      const lists = await Promise.all([a, c, d].map((n) => neighboursOf(rpc, n)));
      return lists.every((l) => !l.includes(b.id));
    });
    expect((await neighboursOf(rpc, d)).sort()).toEqual([a.id, c.id].sort());
    expect((await neighboursOf(rpc, a)).sort()).toEqual([c.id, d.id].sort());
  });
});
