/**
 * Durable facts: file.completed, and the gateways' download completed / acked / replication
 * finished when no tracker takes the request, travel through the JetStream facts stream and the
 * trackers' durable consumer, against a real nats-server with JetStream and real tracker processes.
 * The gateway side is the gateway's own TrackerClient.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import {
  DownloadAckRecordSchema,
  ensureFactsStream,
  EventSubjects,
  FACT_SUBJECTS,
  FACTS_STREAM,
  FactPublisher,
  factId,
  FileRecordSchema,
  NatsRpc,
  PeerRecordSchema,
  TRACKER_FACTS_CONSUMER,
  TrackerSubjects,
} from '@swarmshare/common';
import { connect, type NatsConnection, nanos, RetentionPolicy, StorageType } from 'nats';
import { startNatsServer } from '../../../test/support/infra';
import { TrackerClient } from '../../peer-gateway/src/tracker/tracker.client';
import type { RunningService } from '../../../test/support/services';
import { announceBody, ensureBuilt, eventually, failure, fileBody, nodeId, ok, flushDb, rawNats, startTracker } from './support';

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

  const stopAll = () => Promise.all(trackers.map((t) => t.stop()));
  const acksOf = (fileId: string) => ok(nc, TrackerSubjects.downloadAcks, { fileId }, z.array(DownloadAckRecordSchema));
  const factLogs = (ts: RunningService[], event: string, fileIds: string[]) => ts.flatMap((t) => t.logs).filter((l) => l.event === event && fileIds.includes(l.fileId as string));
  const ids = (refs: Array<{ nodeId: string }>) => refs.map((r) => r.nodeId).sort();

  it("applies a gateway's download completed, ack and replicated upload once when a tracker comes back, and a replay changes nothing", async () => {
    await start();
    const seeder = nodeId('hs');
    const downloader = nodeId('hd');
    const replica = nodeId('hr');
    for (const n of [seeder, downloader, replica]) await ok(nc, TrackerSubjects.announce, announceBody(n, 1), PeerRecordSchema);
    const file = await ok(nc, TrackerSubjects.registerFile, fileBody(seeder, 'away.bin'), FileRecordSchema);
    const replicated = fileBody(seeder, 'replicated.bin');
    await stopAll();

    // Every tracker is down: the gateway's client publishes each report as a fact and resolves once stored.
    const client = new TrackerClient(new NatsRpc(nc, 2000), new FactPublisher(nc));
    const before = (await (await nc.jetstreamManager()).streams.info(FACTS_STREAM)).state.messages;
    await client.downloadCompleted({ fileId: file.fileId, nodeId: downloader, from: [{ nodeId: seeder, bytes: file.size }] });
    await client.downloadAcked({ fileId: file.fileId, nodeId: downloader, holder: seeder, bytes: file.size, chunks: file.chunkCount });
    await client.replicationFinished({ ...replicated, holders: [replica], replicas: 1 }, randomUUID());
    expect((await (await nc.jetstreamManager()).streams.info(FACTS_STREAM)).state.messages).toBe(before + 3);

    const back = await start();
    const counted = await eventually(async () => {
      const r = await getFile(file.fileId);
      expect(r.downloads).toBe(1);
      expect(ids(r.seeders)).toEqual([seeder, downloader].sort());
      expect(await acksOf(file.fileId)).toEqual([{ nodeId: downloader, holder: seeder, bytes: file.size }]);
      const rep = await getFile(replicated.fileId);
      expect(ids(rep.seeders)).toEqual([seeder]);
      expect(ids(rep.partial ?? [])).toEqual([replica]);
      expect(rep.replicas).toBe(1);
      return r;
    }, 15_000);
    const mine = [file.fileId, replicated.fileId];
    await eventually(async () => expect(factLogs([back], 'fact-applied', mine)).toHaveLength(3));

    // The registry moves on (a newer ack), then every fact is delivered again: the consumer is
    // re-created with the trackers down, so it replays the whole stream.
    await ok(nc, TrackerSubjects.downloadAcked, { fileId: file.fileId, nodeId: downloader, holder: seeder, bytes: 123, chunks: 1 }, z.unknown());
    await stopAll();
    await (await nc.jetstreamManager()).consumers.delete(FACTS_STREAM, TRACKER_FACTS_CONSUMER);
    const replay = await start();
    await eventually(async () => expect(factLogs([replay], 'fact-skipped', mine)).toHaveLength(3), 15_000);
    expect(factLogs([replay], 'fact-applied', mine)).toHaveLength(0);
    expect(await getFile(file.fileId)).toEqual(counted);
    expect(await acksOf(file.fileId)).toEqual([{ nodeId: downloader, holder: seeder, bytes: 123 }]);
  });

  it('does not turn a refusal into a fact: the tracker answered, so nothing is published', async () => {
    await start();
    const client = new TrackerClient(new NatsRpc(nc, 2000), new FactPublisher(nc));
    const before = (await (await nc.jetstreamManager()).streams.info(FACTS_STREAM)).state.messages;
    const unknown = fileBody(nodeId('rs'), 'unknown.bin').fileId;
    await expect(client.downloadCompleted({ fileId: unknown, nodeId: nodeId('rd'), from: [] })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect((await (await nc.jetstreamManager()).streams.info(FACTS_STREAM)).state.messages).toBe(before);
    await failure(nc, TrackerSubjects.getFile, { fileId: unknown });
  });

  it('adds the newer fact subjects to a stream an older version made, keeping its facts', async () => {
    // A nats-server of its own: the shared one's stream is already current.
    const dir = mkdtempSync(join(tmpdir(), 'ss-facts-upgrade-'));
    const server = await startNatsServer(undefined, dir);
    const own = await connect({ servers: server.url });
    try {
      const jsm = await own.jetstreamManager();
      await jsm.streams.add({ name: FACTS_STREAM, subjects: [EventSubjects.fileCompleted], retention: RetentionPolicy.Limits, storage: StorageType.File, duplicate_window: nanos(120_000) });
      await own.jetstream().publish(EventSubjects.fileCompleted, Buffer.from('{}'), { msgID: 'old-fact' });
      await ensureFactsStream(own);
      const info = await jsm.streams.info(FACTS_STREAM);
      expect([...(info.config.subjects ?? [])].sort()).toEqual([...FACT_SUBJECTS].sort());
      expect(info.state.messages).toBe(1);
    } finally {
      await own.close();
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
