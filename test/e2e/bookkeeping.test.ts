import { execFile } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connect, type NatsConnection } from 'nats';
import { DownloadStatusSchema, type FileRecord, FileRecordSchema, gatewaySubjects, NatsRpc, TrackerSubjects, sha256Hex, natsServerOptions } from '@swarmshare/common';
import { LocalSwarm } from '../../cli/src/launcher/local-swarm';
import { REPO_ROOT } from '../../cli/src/launcher/service-process';

/**
 * Issue 12, faults 5 and 8: the tracker's books follow what happened at once, not when soft state
 * expires. A failed download leaves the leechers at once (and a node that kept some chunks is a
 * partial holder, not "downloading"); a holder a downloader cannot reach leaves the seeders at
 * once and comes back with its next announce. Real processes, own nats-server and redis-server.
 */
const run = promisify(execFile);
const CLI = join(REPO_ROOT, 'cli', 'dist', 'main.js');
const MiB = 1024 * 1024;
const BOUND_MS = 3000;

const ids = (refs: Array<{ nodeId: string }> | undefined) => (refs ?? []).map((r) => r.nodeId).sort();

describe('bookkeeping converges at once after a failed download or a dead holder', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ss-books-'));
  let swarm: LocalSwarm;
  let nc: NatsConnection;
  let rpc: NatsRpc;
  let fileId: string;
  let data: Buffer;

  beforeAll(async () => {
    // PEER_TTL_MS stays at its 30 s default: nothing here may wait for it.
    swarm = await LocalSwarm.start({ nodes: 3, dataDir: dir, extraEnv: { ANNOUNCE_INTERVAL_MS: '500', DOWNLOAD_RATE_LIMIT: '8MiB' } });
    nc = await connect({ ...natsServerOptions(swarm.urls.natsUrl, swarm.natsCa) });
    rpc = new NatsRpc(nc, 10_000);
    data = Buffer.allocUnsafe(24 * MiB + 5);
    randomFillSync(data);
    const input = join(dir, 'books.bin');
    writeFileSync(input, data);
    fileId = (await run(process.execPath, [CLI, 'share', input, '--node', 'a', '--nats', swarm.urls.natsUrl, '--data', swarm.dataDir], { timeout: 60_000 })).stdout.trim().split('\n').pop()!;
  });

  afterAll(async () => {
    await nc?.close();
    await swarm?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const getFile = () => rpc.request(TrackerSubjects.getFile, { fileId }, FileRecordSchema);

  async function until(what: string, ok: (r: FileRecord) => boolean): Promise<FileRecord> {
    const t0 = Date.now();
    for (;;) {
      const r = await getFile();
      if (ok(r)) return r;
      if (Date.now() - t0 > BOUND_MS) throw new Error(`${what} not within ${BOUND_MS} ms: ${JSON.stringify({ seeders: r.seeders, partial: r.partial, leechers: r.leechers })}`);
      await new Promise((res) => setTimeout(res, 50));
    }
  }

  async function fetchOn(node: string): Promise<void> {
    await rpc.request(gatewaySubjects(node).fetch, { fileId }, DownloadStatusSchema);
  }

  async function stateOf(node: string): Promise<string> {
    return (await rpc.request(gatewaySubjects(node).status, { fileId }, DownloadStatusSchema)).state;
  }

  it('a download that fails mid-way leaves the leechers at once; the node is listed as a partial holder', async () => {
    await fetchOn('b');
    for (;;) {
      const st = await rpc.request(gatewaySubjects('b').status, { fileId }, DownloadStatusSchema);
      if (st.chunkCount > 0 && st.chunksDone >= st.chunkCount * 0.3) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    expect(ids((await getFile()).leechers)).toEqual(['b']);
    await swarm.node('a').gateway.stop('SIGKILL'); // b's only holder
    while ((await stateOf('b')) === 'running') await new Promise((res) => setTimeout(res, 50));
    expect(await stateOf('b')).toBe('failed');
    const r = await until('b out of the leechers, in the partial holders', (x) => x.leechers.length === 0 && ids(x.partial).includes('b'));
    expect(ids(r.seeders)).not.toContain('b');
  });

  it('a holder that a downloader cannot reach leaves the seeders at once, and is back with its next announce', async () => {
    // a's gateway is dead (previous test): its last announce is still fresh, so only a report can hide it.
    await fetchOn('c');
    await until('a out of the seeders', (x) => !ids(x.seeders).includes('a'));
    await swarm.respawn('a-peer-gateway');
    await until('a back among the seeders', (x) => ids(x.seeders).includes('a'));
    const out = join(dir, 'on-c.bin');
    await run(process.execPath, [CLI, 'fetch', fileId, '--node', 'c', '-o', out, '--nats', swarm.urls.natsUrl, '--data', swarm.dataDir], { timeout: 60_000 });
    expect(sha256Hex(readFileSync(out))).toBe(sha256Hex(data));
  });
});
