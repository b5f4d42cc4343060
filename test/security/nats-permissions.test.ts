import { rmSync } from 'node:fs';
import { connect, type NatsConnection, type NatsError } from 'nats';
import {
  connectNats,
  downloadProgressSubject,
  natsServerOptions,
  newPassword,
  nodeAdminSubjects,
  storeSubjects,
  swarmNatsUsers,
  TRACKER_QUEUE,
  TrackerSubjects,
  urlWithCredentials,
} from '@swarmshare/common';
import { type LocalServer, startNatsServer } from '../support/infra';
import { makeTlsFixture, type TlsFixture } from './tls-fixture';

/**
 * Issue 11, NATS least privilege: a real nats-server with the users `swarmshare up` writes (admin,
 * tracker, store-<node>, gateway-<node>) refuses anyone without credentials and every user outside
 * its subjects, and nothing refused reaches a subscriber.
 */
/**
 * A real nats-server with the users `swarmshare up` writes for nodes a and b, started before the
 * describe's tests and stopped after; `as(user)` logs in as that user (closed at the end).
 */
function natsWithSwarmUsers() {
  const fx = { server: undefined as unknown as LocalServer };
  const passwords = new Map<string, string>();
  const conns: NatsConnection[] = [];
  const password = (u: string) => passwords.get(u) ?? (passwords.set(u, newPassword()), passwords.get(u)!);
  const as = async (user: string): Promise<NatsConnection> => {
    const nc = await connectNats(urlWithCredentials(fx.server.url, user, password(user)), `security-test-${user}`, false);
    conns.push(nc);
    return nc;
  };
  beforeAll(async () => {
    fx.server = await startNatsServer(undefined, undefined, { users: swarmNatsUsers(['a', 'b'], password) });
  });
  afterAll(async () => {
    await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
    await fx.server.stop();
  });
  return { fx, as };
}

describe('NATS: a user per service, least privilege', () => {
  const { fx, as } = natsWithSwarmUsers();

  /** Messages an admin subscriber sees on `subject`, after everyone's pending traffic was flushed. */
  const seen = (nc: NatsConnection, subject: string) => {
    const got: string[] = [];
    nc.subscribe(subject, { callback: (_e, m) => got.push(m.subject) });
    return got;
  };
  /** A subscription's first error (a refused subscribe closes it with a permissions violation). */
  const subscribeError = (nc: NatsConnection, subject: string, queue?: string) =>
    new Promise<NatsError | null>((resolve) => {
      nc.subscribe(subject, { ...(queue ? { queue } : {}), callback: (err) => resolve(err) });
      // A granted subscription stays silent: flushing twice proves the server accepted it.
      void nc.flush().then(() => nc.flush()).then(() => setTimeout(() => resolve(null), 300));
    });

  test('a connection without credentials, or with a wrong password, is refused', async () => {
    await expect(connect({ servers: fx.server.url, reconnect: false })).rejects.toThrow(/Authorization Violation/i);
    await expect(connectNats(urlWithCredentials(fx.server.url, 'gateway-a', 'not-the-password'), 'x', false)).rejects.toThrow(/Authorization Violation/i);
  });

  test("only node a's gateway may request node a's store; another node's gateway and the store itself are refused", async () => {
    const admin = await as('admin');
    const storeA = await as('store-a');
    const a = storeSubjects('a');
    // The real responder: node a's store answers its own subjects (allow_responses lets it reply).
    storeA.subscribe(`${a.close.replace(/\.close$/, '')}.>`, { callback: (_e, m) => m.respond(Buffer.from('{"ok":true}')) });
    await storeA.flush();
    const reached = seen(admin, 'swarm.node.a.store.>');
    await admin.flush();

    const gatewayA = await as('gateway-a');
    const ok = await gatewayA.request(a.stats, Buffer.from('{}'), { timeout: 3000 });
    expect(Buffer.from(ok.data).toString()).toBe('{"ok":true}');

    const gatewayB = await as('gateway-b');
    await expect(gatewayB.request(a.close, Buffer.from('{"leaseId":"x","sha256":"00"}'), { timeout: 3000 })).rejects.toThrow(/Permissions Violation for Publish/i);
    const tracker = await as('tracker');
    await expect(tracker.request(a.close, Buffer.from('{}'), { timeout: 3000 })).rejects.toThrow(/Permissions Violation for Publish/i);
    await expect(storeA.request(storeSubjects('b').create, Buffer.from('{}'), { timeout: 3000 })).rejects.toThrow(/Permissions Violation for Publish/i);
    await Promise.all([gatewayB.flush(), tracker.flush(), storeA.flush(), admin.flush()]);
    expect(reached).toEqual([a.stats]);
  });

  test('only trackers subscribe to tracker subjects, and only in the trackers\' queue group', async () => {
    const tracker = await as('tracker');
    expect(await subscribeError(tracker, 'swarm.tracker.>', TRACKER_QUEUE)).toBeNull();
    expect((await subscribeError(await as('tracker'), TrackerSubjects.announce))?.code).toBe('PERMISSIONS_VIOLATION');
    expect((await subscribeError(await as('gateway-a'), 'swarm.tracker.>', TRACKER_QUEUE))?.code).toBe('PERMISSIONS_VIOLATION');
    expect((await subscribeError(await as('store-a'), 'swarm.tracker.>', TRACKER_QUEUE))?.code).toBe('PERMISSIONS_VIOLATION');
  });

  test("a node's services cannot listen on another node's subjects, nor publish facts they do not own", async () => {
    expect((await subscribeError(await as('store-b'), 'swarm.node.a.store.>'))?.code).toBe('PERMISSIONS_VIOLATION');
    expect((await subscribeError(await as('gateway-b'), 'swarm.node.a.gateway.>'))?.code).toBe('PERMISSIONS_VIOLATION');
    expect((await subscribeError(await as('gateway-a'), 'swarm.node.a.store.>'))?.code).toBe('PERMISSIONS_VIOLATION');
    expect(await subscribeError(await as('store-a'), 'swarm.node.a.store.>')).toBeNull();
    // Only stores publish file.completed (a gateway could otherwise claim a whole file for its node).
    const admin = await as('admin');
    const facts = seen(admin, 'swarm.evt.file.completed');
    await admin.flush();
    const gatewayA = await as('gateway-a');
    const refused = new Promise<NatsError>((resolve) => void (async () => { for await (const s of gatewayA.status()) if (s.type === 'error') return resolve(s.data as unknown as NatsError); })());
    gatewayA.publish('swarm.evt.file.completed', Buffer.from('{"nodeId":"a","fileId":"x"}'));
    await gatewayA.flush();
    await admin.flush();
    expect(facts).toEqual([]);
    await expect(Promise.race([refused.then(() => 'refused'), new Promise((r) => setTimeout(() => r('silent'), 2000))])).resolves.toBe('refused');
  });

  test("a gateway publishes its own node's download progress, never another node's", async () => {
    const admin = await as('admin');
    const ofA = seen(admin, downloadProgressSubject('a'));
    const ofB = seen(admin, downloadProgressSubject('b'));
    await admin.flush();
    const gatewayA = await as('gateway-a');
    const refused = new Promise<NatsError>((resolve) => void (async () => { for await (const s of gatewayA.status()) if (s.type === 'error') return resolve(s.data as unknown as NatsError); })());
    gatewayA.publish(downloadProgressSubject('a'), Buffer.from('{"nodeId":"a"}'));
    gatewayA.publish(downloadProgressSubject('b'), Buffer.from('{"nodeId":"b"}'));
    await gatewayA.flush();
    await admin.flush();
    await expect(Promise.race([refused.then(() => 'refused'), new Promise((r) => setTimeout(() => r('silent'), 2000))])).resolves.toBe('refused');
    expect(ofA).toHaveLength(1);
    expect(ofB).toEqual([]);
  });
});

describe('NATS: deleting is for operators and the tracker only', () => {
  const { as } = natsWithSwarmUsers();

  test("a gateway or store cannot ask the tracker to delete, nor another node's gateway; the tracker and the CLI can", async () => {
    const tracker = await as('tracker');
    tracker.subscribe(TrackerSubjects.deleteFile, { queue: TRACKER_QUEUE, callback: (_e, m) => m.respond(Buffer.from('{"ok":true}')) });
    const gatewayA = await as('gateway-a');
    gatewayA.subscribe(nodeAdminSubjects('a').delete, { callback: (_e, m) => m.respond(Buffer.from('{"ok":true}')) });
    await Promise.all([tracker.flush(), gatewayA.flush()]);
    const body = Buffer.from(JSON.stringify({ fileId: 'f'.repeat(64), everywhere: true }));

    await expect(gatewayA.request(TrackerSubjects.deleteFile, body, { timeout: 3000 })).rejects.toThrow(/Permissions Violation for Publish/i);
    await expect((await as('store-a')).request(TrackerSubjects.deleteFile, body, { timeout: 3000 })).rejects.toThrow(/Permissions Violation for Publish/i);
    await expect((await as('gateway-b')).request(nodeAdminSubjects('a').delete, body, { timeout: 3000 })).rejects.toThrow(/Permissions Violation for Publish/i);

    expect(Buffer.from((await (await as('admin')).request(TrackerSubjects.deleteFile, body, { timeout: 3000 })).data).toString()).toBe('{"ok":true}');
    expect(Buffer.from((await tracker.request(nodeAdminSubjects('a').delete, body, { timeout: 3000 })).data).toString()).toBe('{"ok":true}');
  });
});

describe('NATS: pinning is for operators only (issue 14)', () => {
  const { as } = natsWithSwarmUsers();

  test("another node's gateway or any store cannot pin or unpin on node a; the CLI's admin user can, and a's own gateway serves it", async () => {
    const s = nodeAdminSubjects('a');
    const gatewayA = await as('gateway-a');
    for (const subject of [s.pin, s.unpin]) gatewayA.subscribe(subject, { callback: (_e, m) => m.respond(Buffer.from(`{"served":"${m.subject}"}`)) });
    await gatewayA.flush();
    const body = Buffer.from(JSON.stringify({ fileId: 'f'.repeat(64) }));

    for (const subject of [s.pin, s.unpin]) {
      await expect((await as('gateway-b')).request(subject, body, { timeout: 3000 })).rejects.toThrow(/Permissions Violation for Publish/i);
      await expect((await as('store-a')).request(subject, body, { timeout: 3000 })).rejects.toThrow(/Permissions Violation for Publish/i);
      expect(Buffer.from((await (await as('admin')).request(subject, body, { timeout: 3000 })).data).toString()).toBe(`{"served":"${subject}"}`);
    }
    // The store's own pin subject is its gateway's alone.
    await expect((await as('gateway-b')).request(storeSubjects('a').pin, Buffer.from('{}'), { timeout: 3000 })).rejects.toThrow(/Permissions Violation for Publish/i);
  });
});

describe('NATS: preheat jobs are for operators only (issue 14)', () => {
  const { as } = natsWithSwarmUsers();

  test('a gateway or store cannot start, read or cancel a preheat; the CLI (admin) can', async () => {
    const tracker = await as('tracker');
    const subjects = [TrackerSubjects.preheatStart, TrackerSubjects.preheatStatus, TrackerSubjects.preheatCancel];
    for (const s of subjects) tracker.subscribe(s, { queue: TRACKER_QUEUE, callback: (_e, m) => m.respond(Buffer.from('{"ok":true}')) });
    await tracker.flush();
    const body = Buffer.from(JSON.stringify({ fileId: 'f'.repeat(64), all: true }));
    for (const s of subjects) {
      await expect((await as('gateway-a')).request(s, body, { timeout: 3000 })).rejects.toThrow(/Permissions Violation for Publish/i);
      await expect((await as('store-a')).request(s, body, { timeout: 3000 })).rejects.toThrow(/Permissions Violation for Publish/i);
      expect(Buffer.from((await (await as('admin')).request(s, body, { timeout: 3000 })).data).toString()).toBe('{"ok":true}');
    }
  });
});

describe('NATS over TLS (tls://, CA from NATS_CA_FILE)', () => {
  let server: LocalServer;
  let tls: TlsFixture;
  const pass = newPassword();

  beforeAll(async () => {
    tls = makeTlsFixture();
    server = await startNatsServer(undefined, undefined, { users: [{ user: 'admin', password: pass }], tls: { certFile: tls.certFile, keyFile: tls.keyFile } });
  });
  afterAll(async () => {
    await server.stop();
    rmSync(tls.dir, { recursive: true, force: true });
  });

  test('a client trusting the cluster CA connects over TLS with its credentials', async () => {
    expect(server.url).toMatch(/^tls:\/\//);
    const nc = await connectNats(urlWithCredentials(server.url, 'admin', pass), 'tls-test', false, tls.caFile);
    const sub = nc.subscribe('t.echo', { callback: (_e, m) => m.respond(m.data) });
    const r = await nc.request('t.echo', Buffer.from('hi'), { timeout: 3000 });
    expect(Buffer.from(r.data).toString()).toBe('hi');
    sub.unsubscribe();
    await nc.close();
  });

  test('a client trusting another CA, or none, is refused', async () => {
    await expect(connectNats(urlWithCredentials(server.url, 'admin', pass), 'tls-test', false, tls.otherCaFile)).rejects.toThrow();
    await expect(connectNats(urlWithCredentials(server.url, 'admin', pass), 'tls-test', false)).rejects.toThrow();
  });

  test('a tls:// client refuses a server without TLS', async () => {
    const plain = await startNatsServer(undefined, undefined, { users: [{ user: 'admin', password: pass }] });
    try {
      const url = urlWithCredentials(plain.url.replace(/^nats:/, 'tls:'), 'admin', pass);
      expect(natsServerOptions(url, tls.caFile).tls).toEqual({ caFile: tls.caFile });
      await expect(connectNats(url, 'tls-test', false, tls.caFile)).rejects.toThrow(/tls|TLS|SERVER_OPTION_NA/);
    } finally {
      await plain.stop();
    }
  });
});
