/**
 * The tracker's gRPC admin API against a real tracker process (NATS + Redis + gRPC in one hybrid
 * app): authentication, health, error statuses, and the secure default without a token.
 */
import { credentials, loadPackageDefinition, Metadata, type ServiceClientConstructor, type ServiceError, status } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as HEALTH_PROTO_PATH } from 'grpc-health-check';
import { ADMIN_PROTO_LOADER_OPTIONS, ADMIN_PROTO_PATH, TrackerSubjects } from '@swarmshare/common';
import type { NatsConnection } from 'nats';
import { freePort } from '../../../test/support/infra';
import type { RunningService } from '../../../test/support/services';
import { announceBody, ensureBuilt, eventually, failure, fileBody, nodeId, ok, flushDb, rawNats, startTracker } from './support';
import { z } from 'zod';

const DB = 9;
const TOKEN = 'test-admin-token-0123456789';

type Unary = (req: object, md: Metadata, cb: (e: ServiceError | null, r: any) => void) => void;
type Client = Record<string, Unary> & { close(): void };

function adminClient(port: number): Client {
  const pkg = loadPackageDefinition(loadSync(ADMIN_PROTO_PATH, ADMIN_PROTO_LOADER_OPTIONS)) as any;
  const Admin = pkg.swarmshare.admin.v1.Admin as ServiceClientConstructor;
  return new Admin(`127.0.0.1:${port}`, credentials.createInsecure()) as unknown as Client;
}

function bearer(token: string): Metadata {
  const md = new Metadata();
  md.set('authorization', `Bearer ${token}`);
  return md;
}

function call(client: Client, method: string, req: object, md = bearer(TOKEN)): Promise<any> {
  return new Promise((resolve, reject) => client[method](req, md, (e, r) => (e ? reject(e) : resolve(r))));
}

async function refused(p: Promise<unknown>): Promise<ServiceError> {
  try {
    await p;
  } catch (e) {
    return e as ServiceError;
  }
  throw new Error('the call succeeded but should have been refused');
}

describe('tracker gRPC admin API', () => {
  let tracker: RunningService;
  let grpcPort: number;
  let client: Client;
  let nc: NatsConnection;

  beforeAll(async () => {
    ensureBuilt();
    await flushDb(DB);
    grpcPort = await freePort();
    // The handlers and the token, in plaintext; the port's mutual TLS is tested in test/e2e/admin-grpc.test.ts.
    tracker = await startTracker(DB, { GRPC_PORT: String(grpcPort), ADMIN_TOKEN: TOKEN, GRPC_TLS: 'off' });
    client = adminClient(grpcPort);
    nc = await rawNats();
  });

  afterAll(async () => {
    client?.close();
    await nc?.drain();
    await tracker?.stop();
  });

  it('refuses a call without a token, or with the wrong one, before doing anything', async () => {
    const none = await refused(call(client, 'ListFiles', {}, new Metadata()));
    expect(none.code).toBe(status.UNAUTHENTICATED);
    expect(none.details).toMatch(/authorization: Bearer/);
    const wrong = await refused(call(client, 'ListPeers', {}, bearer('not-the-token-at-all')));
    expect(wrong.code).toBe(status.UNAUTHENTICATED);
    const malformed = new Metadata();
    malformed.set('authorization', TOKEN);
    expect((await refused(call(client, 'ListFiles', {}, malformed))).code).toBe(status.UNAUTHENTICATED);
  });

  it('answers grpc.health.v1 without a token: SERVING once NATS and Redis answer', async () => {
    const Health = (loadPackageDefinition(loadSync(HEALTH_PROTO_PATH, { enums: String })) as any).grpc.health.v1.Health as ServiceClientConstructor;
    const health = new Health(`127.0.0.1:${grpcPort}`, credentials.createInsecure()) as unknown as Client;
    try {
      for (const service of ['', 'swarmshare.admin.v1.Admin']) {
        const r = await eventually(async () => {
          const x = await new Promise<any>((resolve, reject) => health.Check({ service }, new Metadata(), (e, v) => (e ? reject(e) : resolve(v))));
          if (x.status !== 'SERVING') throw new Error(`health of "${service}" is ${x.status}`);
          return x;
        }, 10_000);
        expect(r.status).toBe('SERVING');
      }
    } finally {
      health.close();
    }
  });

  it('lists what the NATS API lists', async () => {
    const a = nodeId('grpc-a');
    await ok(nc, TrackerSubjects.announce, announceBody(a, 5_000_000), z.unknown());
    const file = fileBody(a, 'grpc-listed.bin');
    await ok(nc, TrackerSubjects.registerFile, file, z.unknown());
    const peers = (await call(client, 'ListPeers', {})).peers;
    expect(peers).toEqual(expect.arrayContaining([expect.objectContaining({ node_id: a, free: 5_000_000, files: 0 })]));
    const files = (await call(client, 'ListFiles', {})).files;
    const listed = files.find((f: { file_id: string }) => f.file_id === file.fileId);
    expect(listed).toMatchObject({ name: 'grpc-listed.bin', size: file.size, chunk_count: file.chunkCount, hash: file.hash, downloads: 0, replicas: 0 });
    expect(listed.seeders.map((s: { node_id: string }) => s.node_id)).toEqual([a]);
  });

  it('carries the NATS API\'s error codes as gRPC statuses, with the swarm code in a trailer', async () => {
    const bad = await refused(call(client, 'GetFile', { file_id: 'not-an-id' }));
    expect(bad.code).toBe(status.INVALID_ARGUMENT);
    expect(bad.details).toMatch(/file_id: file id must be 64 lowercase hex/);
    expect(bad.metadata.get('swarm-error-code')).toEqual(['BAD_REQUEST']);
    const missing = await refused(call(client, 'GetFile', { file_id: 'a'.repeat(64) }));
    expect(missing.code).toBe(status.NOT_FOUND);
    expect(missing.metadata.get('swarm-error-code')).toEqual(['NOT_FOUND']);
    // A node nobody runs: the forwarded NATS request finds no responder.
    const down = await refused(call(client, 'GetNode', { node_id: 'nobody-runs-this-node' }));
    expect(down.code).toBe(status.UNAVAILABLE);
    expect(down.details).toMatch(/nothing answers on swarm\.node\.nobody-runs-this-node/);
  });

  it('Preheat: refused without the token; starts a job whose node nobody runs (down), queues it again when it announces, and CancelPreheat cancels it (issue 14)', async () => {
    const seeder = nodeId('grpc-ph-seed');
    const away = nodeId('grpc-ph-away');
    await ok(nc, TrackerSubjects.announce, announceBody(seeder, 5_000_000), z.unknown());
    const file = fileBody(seeder, 'grpc-preheat.bin');
    await ok(nc, TrackerSubjects.registerFile, file, z.unknown());

    expect((await refused(call(client, 'Preheat', { file_id: file.fileId, node_ids: [away] }, new Metadata()))).code).toBe(status.UNAUTHENTICATED);
    // Exactly one way of choosing nodes; a concurrency in range; a registered file.
    expect((await refused(call(client, 'Preheat', { file_id: file.fileId }))).code).toBe(status.INVALID_ARGUMENT);
    expect((await refused(call(client, 'Preheat', { file_id: file.fileId, all: true, node_ids: [away] }))).code).toBe(status.INVALID_ARGUMENT);
    expect((await refused(call(client, 'Preheat', { file_id: file.fileId, all: true, concurrency: 65 }))).code).toBe(status.INVALID_ARGUMENT);
    expect((await refused(call(client, 'Preheat', { file_id: 'b'.repeat(64), all: true }))).code).toBe(status.NOT_FOUND);

    // The seeder holds it already; `away` runs no gateway: it is down, not failed.
    const job = await call(client, 'Preheat', { file_id: file.fileId, node_ids: [seeder, away], concurrency: 2 });
    expect(job).toMatchObject({ file_id: file.fileId, concurrency: 2, state: 'running' });
    expect(job.job_id).toMatch(/^ph-[0-9a-f]{16}$/);
    const get = () => call(client, 'GetPreheat', { job_id: job.job_id });
    const waiting = await eventually(async () => {
      const j = await get();
      if (j.state !== 'waiting') throw new Error(`job is ${j.state}`);
      return j;
    }, 15_000);
    const byNode = (j: any) => Object.fromEntries(j.nodes.map((n: any) => [n.node_id, n]));
    expect(byNode(waiting)[seeder]).toMatchObject({ state: 'held', attempts: 0 });
    expect(byNode(waiting)[away]).toMatchObject({ state: 'down', attempts: 1 });
    expect(byNode(waiting)[away].error).toMatch(/did not answer.*when it announces again/);

    // It announces: it is tried again (and, still running no gateway, is down again).
    await ok(nc, TrackerSubjects.announce, announceBody(away, 5_000_000), z.unknown());
    const retried = await eventually(async () => {
      const n = byNode(await get())[away];
      if (n.attempts < 2 || n.state !== 'down') throw new Error(`node is ${n.state} after ${n.attempts} attempts`);
      return n;
    }, 15_000);
    expect(retried.attempts).toBe(2);

    const cancelled = await call(client, 'CancelPreheat', { job_id: job.job_id });
    expect(cancelled.state).toBe('cancelled');
    expect(byNode(cancelled)[away].state).toBe('cancelled');
    // A cancelled job takes nobody back.
    await ok(nc, TrackerSubjects.announce, announceBody(away, 5_000_000), z.unknown());
    expect(byNode(await get())[away]).toMatchObject({ state: 'cancelled', attempts: 2 });
    expect((await refused(call(client, 'GetPreheat', { job_id: 'ph-0000000000000000' }))).code).toBe(status.NOT_FOUND);
    expect((await refused(call(client, 'CancelPreheat', { job_id: 'nope' }))).code).toBe(status.INVALID_ARGUMENT);
  }, 60_000);

  it('DeleteFile: refused without the token; everywhere removes the record at once and leaves a tombstone the holder hears on announce (issue 14)', async () => {
    const a = nodeId('grpc-del');
    await ok(nc, TrackerSubjects.announce, announceBody(a, 5_000_000), z.unknown());
    const file = fileBody(a, 'grpc-deleted.bin');
    await ok(nc, TrackerSubjects.registerFile, file, z.unknown());

    // No token: nothing is deleted.
    expect((await refused(call(client, 'DeleteFile', { file_id: file.fileId, everywhere: true }, new Metadata()))).code).toBe(status.UNAUTHENTICATED);
    expect((await call(client, 'ListFiles', {})).files.some((f: { file_id: string }) => f.file_id === file.fileId)).toBe(true);
    // Exactly one of node_id and everywhere.
    expect((await refused(call(client, 'DeleteFile', { file_id: file.fileId }))).code).toBe(status.INVALID_ARGUMENT);
    expect((await refused(call(client, 'DeleteFile', { file_id: file.fileId, node_id: a, everywhere: true }))).code).toBe(status.INVALID_ARGUMENT);
    // One node that does not run: UNAVAILABLE, and the record keeps it.
    const one = await refused(call(client, 'DeleteFile', { file_id: file.fileId, node_id: a }));
    expect(one.code).toBe(status.UNAVAILABLE);
    expect(one.details).toMatch(/is it running\? Nothing was deleted there/);

    // Everywhere: the holder (no process behind it) is reported as not reached; the record is gone at once.
    const r = await call(client, 'DeleteFile', { file_id: file.fileId, everywhere: true });
    expect(r).toMatchObject({ file_id: file.fileId, everywhere: true, tombstone: true });
    expect(r.nodes).toEqual([expect.objectContaining({ node_id: a, deleted: false, error: expect.stringMatching(/deletes its copy when it announces again/) })]);
    expect((await refused(call(client, 'GetFile', { file_id: file.fileId }))).code).toBe(status.NOT_FOUND);
    expect((await call(client, 'ListFiles', {})).files.some((f: { file_id: string }) => f.file_id === file.fileId)).toBe(false);

    // The holder comes back: its announce is answered with `deleted`, not `unknown`, and it cannot restore the file.
    const reply = await ok(nc, TrackerSubjects.announce, announceBody(a, 5_000_000, [file.fileId]), z.object({ unknown: z.array(z.string()), deleted: z.array(z.string()) }));
    expect(reply).toMatchObject({ unknown: [], deleted: [file.fileId] });
    expect((await failure(nc, TrackerSubjects.registerFile, { ...file, restore: true })).code).toBe('NOT_FOUND');
    expect((await failure(nc, TrackerSubjects.getFile, { fileId: file.fileId })).code).toBe('NOT_FOUND');
    // A new share of the same content clears the tombstone.
    await ok(nc, TrackerSubjects.registerFile, file, z.unknown());
    const again = await ok(nc, TrackerSubjects.announce, announceBody(a, 5_000_000, [file.fileId]), z.object({ unknown: z.array(z.string()), deleted: z.array(z.string()) }));
    expect(again).toMatchObject({ unknown: [], deleted: [] });
    // The NATS subject does the same as the gRPC method.
    const viaNats = await ok(nc, TrackerSubjects.deleteFile, { fileId: file.fileId, everywhere: true }, z.object({ tombstone: z.boolean() }));
    expect(viaNats.tombstone).toBe(true);
    expect((await failure(nc, TrackerSubjects.getFile, { fileId: file.fileId })).code).toBe('NOT_FOUND');
    // Unknown everywhere: NOT_FOUND.
    expect((await refused(call(client, 'DeleteFile', { file_id: 'b'.repeat(64), everywhere: true }))).code).toBe(status.NOT_FOUND);
  });

  it('refuses to start with GRPC_PORT but no ADMIN_TOKEN, or a short one: no unauthenticated admin port', async () => {
    const port = String(await freePort());
    const attempts: Array<Record<string, string>> = [{ GRPC_PORT: port, GRPC_TLS: 'off' }, { GRPC_PORT: port, ADMIN_TOKEN: 'short', GRPC_TLS: 'off' }];
    for (const extra of attempts) {
      const t = await startTracker(DB, extra, { waitReady: false });
      const { code } = await t.exited;
      expect(code).toBe(1);
      expect(t.stderr.join('\n')).toMatch(/ADMIN_TOKEN: must (be set when GRPC_PORT=\d+ serves the admin API|be at least 16 characters)/);
    }
  });

  it('refuses to start with GRPC_PORT but no TLS files, unless GRPC_TLS=off says so: TLS is the default', async () => {
    const t = await startTracker(DB, { GRPC_PORT: String(await freePort()), ADMIN_TOKEN: TOKEN }, { waitReady: false });
    expect((await t.exited).code).toBe(1);
    expect(t.stderr.join('\n')).toMatch(/GRPC_TLS_CA: must be set while GRPC_TLS=on/);
  });
});
