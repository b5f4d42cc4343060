import { execFile } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { z } from 'zod';
import { DownloadAckRecordSchema, DownloadStatusSchema, FactSubjects, FileRecordSchema, gatewaySubjects, TrackerSubjects } from '@swarmshare/common';
import { REPO_ROOT } from '../../cli/src/launcher/service-process';
import { ownSwarm } from '../support/own-swarm';

/**
 * Issue 12 (5, 8) and 15 (4): a download that completes while every tracker is down is counted when
 * one comes back. The gateways could not tell the tracker, so the download completed and the
 * holder's ack went to the JetStream facts stream; the restarted tracker's durable consumer applies
 * each once. Real processes, own nats-server (JetStream) and redis-server.
 */
const run = promisify(execFile);
const CLI = join(REPO_ROOT, 'cli', 'dist', 'main.js');
const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('downloads completed while the tracker was away', () => {
  const own = ownSwarm('ss-away-', { nodes: 2, extraEnv: { ANNOUNCE_INTERVAL_MS: '500' } });

  it('are counted once when a tracker comes back, with the holder’s ack', async () => {
    const data = Buffer.allocUnsafe(3 * MiB + 17);
    randomFillSync(data);
    const input = join(own.dir, 'away.bin');
    writeFileSync(input, data);
    const fileId = (await run(process.execPath, [CLI, 'share', input, '--node', 'a', '--nats', own.swarm.urls.natsUrl, '--data', own.swarm.dataDir], { timeout: 60_000 })).stdout.trim().split('\n').pop()!;

    await own.swarm.tracker[0].stop('SIGKILL');
    // No tracker: b finds a through the overlay (a's address given) and downloads from it.
    const b = gatewaySubjects('b');
    await own.rpc.request(b.fetch, { fileId, peers: [own.swarm.node('a').spec.advertiseAddress] }, DownloadStatusSchema);
    let st = await own.rpc.request(b.status, { fileId }, DownloadStatusSchema);
    for (const t0 = Date.now(); (st.state === 'running' || st.state === 'queued') && Date.now() - t0 < 60_000; st = await own.rpc.request(b.status, { fileId }, DownloadStatusSchema)) await sleep(100);
    expect(st).toMatchObject({ state: 'complete', chunksDone: st.chunkCount });

    const tracker = await own.swarm.respawn('tracker-0');
    const t0 = Date.now();
    for (;;) {
      const r = await own.rpc.request(TrackerSubjects.getFile, { fileId }, FileRecordSchema);
      if (r.downloads === 1) break;
      if (Date.now() - t0 > 15_000) throw new Error(`the download was not counted within 15 s: ${JSON.stringify(r)}`);
      await sleep(100);
    }
    const acks = await own.rpc.request(TrackerSubjects.downloadAcks, { fileId }, z.array(DownloadAckRecordSchema));
    expect(acks).toEqual([{ nodeId: 'b', holder: 'a', bytes: data.length }]);
    const applied = (subject: string) => tracker.logs.filter((l) => l.event === 'fact-applied' && l.subject === subject && l.fileId === fileId).length;
    expect(applied(FactSubjects.downloadCompleted)).toBe(1);
    expect(applied(FactSubjects.downloadAcked)).toBe(1);
  });
});
