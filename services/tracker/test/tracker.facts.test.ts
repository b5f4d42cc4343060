/**
 * Durable facts: file.completed travels through the JetStream facts stream and the trackers'
 * durable consumer, against a real nats-server with JetStream and real tracker processes.
 */
import { EventSubjects, factId, FileRecordSchema, PeerRecordSchema, TrackerSubjects } from '@swarmshare/common';
import type { NatsConnection } from 'nats';
import type { RunningService } from '../../../test/support/services';
import { announceBody, ensureBuilt, eventually, fileBody, nodeId, ok, flushDb, rawNats, startTracker } from './support';

const DB = 10;

describe('durable facts (JetStream)', () => {
  let nc: NatsConnection;
  const trackers: RunningService[] = [];

  beforeAll(async () => {
    ensureBuilt();
    await flushDb(DB);
    nc = await rawNats();
  });

  afterAll(async () => {
    await Promise.all(trackers.map((t) => t.stop()));
    await nc?.drain();
  });

  const start = async () => {
    const t = await startTracker(DB, { PEER_TTL_MS: '120000' });
    trackers.push(t);
    return t;
  };
  const getFile = (fileId: string) => ok(nc, TrackerSubjects.getFile, { fileId }, FileRecordSchema);
  const publishFact = (nodeId: string, fileId: string, msgID = factId(EventSubjects.fileCompleted, nodeId, fileId)) =>
    nc.jetstream().publish(EventSubjects.fileCompleted, Buffer.from(JSON.stringify({ nodeId, fileId })), { msgID });
  const applied = (ts: RunningService[], fileId: string) => ts.flatMap((t) => t.logs).filter((l) => l.event === 'fact-applied' && l.fileId === fileId).length;

  it('applies, once, a fact published while every tracker was down, when one comes back', async () => {
    const first = await start();
    const seeder = nodeId('fs');
    const done = nodeId('fd');
    for (const n of [seeder, done]) await ok(nc, TrackerSubjects.announce, announceBody(n, 1), PeerRecordSchema);
    const file = await ok(nc, TrackerSubjects.registerFile, fileBody(seeder, 'durable.bin'), FileRecordSchema);
    await first.stop();

    // No tracker runs: the store's fact waits in the stream (the server acked it).
    const ack = await publishFact(done, file.fileId);
    expect(ack.duplicate).toBe(false);

    const back = await start();
    const rec = await eventually(async () => {
      const r = await getFile(file.fileId);
      expect(r.seeders.map((s) => s.nodeId).sort()).toEqual([seeder, done].sort());
      return r;
    }, 15_000);
    expect(rec.downloads).toBe(0);
    await eventually(async () => expect(applied([back], file.fileId)).toBe(1));
    expect(applied(trackers, file.fileId)).toBe(1);
  });

  it('stores a republished fact once, and a fact delivered twice changes nothing', async () => {
    // A tracker of its own (others may run too: they share the durable consumer, so counts add up over all).
    await start();
    const seeder = nodeId('gs');
    const done = nodeId('gd');
    for (const n of [seeder, done]) await ok(nc, TrackerSubjects.announce, announceBody(n, 1), PeerRecordSchema);
    const file = await ok(nc, TrackerSubjects.registerFile, fileBody(seeder, 'twice.bin'), FileRecordSchema);

    expect((await publishFact(done, file.fileId)).duplicate).toBe(false);
    // The same fact again (the store retried): the stream keeps one copy.
    expect((await publishFact(done, file.fileId)).duplicate).toBe(true);
    const once = await eventually(async () => {
      const r = await getFile(file.fileId);
      expect(r.seeders.map((s) => s.nodeId).sort()).toEqual([seeder, done].sort());
      return r;
    }, 15_000);
    await eventually(async () => expect(applied(trackers, file.fileId)).toBe(1));

    // A true second delivery (another id, as after a redelivery): applied again, and nothing changes.
    await publishFact(done, file.fileId, 'redelivered-copy');
    await eventually(async () => expect(applied(trackers, file.fileId)).toBe(2));
    expect(await getFile(file.fileId)).toEqual(once);
  });
});
