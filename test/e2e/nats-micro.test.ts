/**
 * Every service is a NATS micro service: raw requests to $SRV.PING / INFO / STATS (io.nats.micro.v1)
 * name the tracker, the store and the gateway, list one endpoint per request subject with its queue
 * group, and count the requests real traffic made.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createInbox, type NatsConnection } from 'nats';
import { gatewaySubjects, nodeAdminSubjects, storeSubjects, TRACKER_QUEUE, TrackerSubjects, natsServerOptions } from '@swarmshare/common';
import { LocalSwarm } from '../../cli/src/launcher/local-swarm';

type Endpoint = { name: string; subject: string; queue_group: string; num_requests?: number; num_errors?: number; processing_time?: number };
type Reply = { type: string; name: string; id: string; version: string; description?: string; metadata?: Record<string, string>; endpoints: Endpoint[] };

describe('NATS services API ($SRV)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ss-micro-'));
  let swarm: LocalSwarm;
  let nc: NatsConnection;

  /** Publish to a $SRV subject and gather every answer for a while (each instance answers once). */
  async function gather(subject: string, waitMs = 1000): Promise<Reply[]> {
    const inbox = createInbox();
    const replies: Reply[] = [];
    const sub = nc.subscribe(inbox, { callback: (_e, m) => replies.push(JSON.parse(Buffer.from(m.data).toString())) });
    nc.publish(subject, new Uint8Array(0), { reply: inbox });
    await new Promise((r) => setTimeout(r, waitMs));
    sub.unsubscribe();
    return replies;
  }
  const one = async (subject: string): Promise<Reply> => JSON.parse(Buffer.from((await nc.request(subject, new Uint8Array(0), { timeout: 5000 })).data).toString());

  beforeAll(async () => {
    // Its own nats-server: only this swarm's services answer $SRV here.
    swarm = await LocalSwarm.start({ nodes: 1, nodeIds: ['m'], dataDir: dir });
    nc = await connect({ ...natsServerOptions(swarm.urls.natsUrl, swarm.natsCa) });
  });

  afterAll(async () => {
    await nc?.drain();
    await swarm?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers PING for the tracker, the store and the gateway', async () => {
    const pings = await gather('$SRV.PING');
    expect(pings.every((p) => p.type === 'io.nats.micro.v1.ping_response')).toBe(true);
    expect(pings.map((p) => p.name).sort()).toEqual(['swarmshare-chunk-store', 'swarmshare-peer-gateway', 'swarmshare-tracker']);
    expect(new Set(pings.map((p) => p.version))).toEqual(new Set(['0.1.0']));
  });

  it('describes one endpoint per request subject, with the existing queue groups', async () => {
    const tracker = await one('$SRV.INFO.swarmshare-tracker');
    expect(tracker).toMatchObject({ type: 'io.nats.micro.v1.info_response', name: 'swarmshare-tracker', version: '0.1.0', description: expect.stringMatching(/registry of peers and files/) });
    expect(tracker.endpoints.map((e) => e.subject).sort()).toEqual(Object.values(TrackerSubjects).sort());
    expect(new Set(tracker.endpoints.map((e) => e.queue_group))).toEqual(new Set([TRACKER_QUEUE]));
    expect(tracker.endpoints.find((e) => e.subject === TrackerSubjects.listFiles)?.name).toBe('tracker-file-list');

    const store = await one('$SRV.INFO.swarmshare-chunk-store');
    expect(store.metadata).toMatchObject({ node_id: 'm' });
    // Every store subject is an endpoint, except the corrupt-chunks event the store publishes.
    const storeRequests = Object.values(storeSubjects('m')).filter((s) => s !== storeSubjects('m').corrupt);
    expect(store.endpoints.map((e) => e.subject).sort()).toEqual(storeRequests.sort());
    const gateway = await one('$SRV.INFO.swarmshare-peer-gateway');
    // The gateway also serves its node's admin subjects (delete, gc, pin, unpin).
    expect(gateway.endpoints.map((e) => e.subject).sort()).toEqual([...Object.values(gatewaySubjects('m')), ...Object.values(nodeAdminSubjects('m'))].sort());
  });

  it('counts the requests real traffic made, per endpoint, and the subjects still answer in plain JSON', async () => {
    const before = await one('$SRV.STATS.swarmshare-tracker');
    const count = (r: Reply, subject: string) => r.endpoints.find((e) => e.subject === subject)?.num_requests ?? -1;
    for (let i = 0; i < 3; i++) {
      const reply = JSON.parse(Buffer.from((await nc.request(TrackerSubjects.listFiles, Buffer.from('{}'), { timeout: 5000 })).data).toString());
      expect(reply).toEqual({ ok: true, result: [] });
    }
    const files = JSON.parse(Buffer.from((await nc.request(storeSubjects('m').files, Buffer.from('{}'), { timeout: 5000 })).data).toString());
    expect(files).toEqual({ ok: true, result: [] });
    const after = await one('$SRV.STATS.swarmshare-tracker');
    expect(after.type).toBe('io.nats.micro.v1.stats_response');
    expect(count(after, TrackerSubjects.listFiles) - count(before, TrackerSubjects.listFiles)).toBe(3);
    // The gateway announces the node on its own: the announce endpoint has been busy too.
    expect(count(after, TrackerSubjects.announce)).toBeGreaterThan(0);
    const store = await one('$SRV.STATS.swarmshare-chunk-store');
    expect(count(store, storeSubjects('m').files)).toBeGreaterThanOrEqual(1);
  });

  it('counts an error reply as an error, by code, and times the awaited handler', async () => {
    const getFile = (r: Reply) => r.endpoints.find((e) => e.subject === TrackerSubjects.getFile) as Endpoint & { last_error?: string; data?: { errors?: Record<string, number> } };
    const before = getFile(await one('$SRV.STATS.swarmshare-tracker'));
    const reply = JSON.parse(Buffer.from((await nc.request(TrackerSubjects.getFile, Buffer.from(JSON.stringify({ fileId: 'e'.repeat(64) })), { timeout: 5000 })).data).toString());
    expect(reply).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    const after = getFile(await one('$SRV.STATS.swarmshare-tracker'));
    expect(after.num_requests! - before.num_requests!).toBe(1);
    expect(after.num_errors! - before.num_errors!).toBe(1);
    expect(after.last_error).toMatch(/^NOT_FOUND: no file with id e+ is registered/);
    expect(after.data?.errors?.NOT_FOUND).toBe((before.data?.errors?.NOT_FOUND ?? 0) + 1);
    // Redis was asked: the time covers the awaited handler, not only its synchronous start.
    expect(after.processing_time!).toBeGreaterThan(before.processing_time!);
  });
});
