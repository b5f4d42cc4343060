/**
 * The gRPC admin API from a client that knows nothing in advance: no .proto, no generated code,
 * no constants from this repo. It finds the service by server reflection (grpc-js-reflection-client),
 * builds its stubs from the descriptors the tracker serves, and checks what it gets against the CLI.
 * Then the Fetch stream under a client that cancels, a node that dies mid-stream and a slow reader.
 */
import { execFile } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type ChannelCredentials, type ClientReadableStream, credentials, type GrpcObject, Metadata, type ServiceClientConstructor, type ServiceError, status } from '@grpc/grpc-js';
import { ensurePeerPki } from '@swarmshare/common';
import { GrpcReflection } from 'grpc-js-reflection-client';
import { readClusterFile } from '../../cli/src/cluster-file';
import { LocalSwarm } from '../../cli/src/launcher/local-swarm';
import { REPO_ROOT } from '../../cli/src/launcher/service-process';
import { eventually } from '../../services/tracker/test/support';

const run = promisify(execFile);
const CLI = join(REPO_ROOT, 'cli', 'dist', 'main.js');
const MiB = 1024 * 1024;

type Progress = { node_id: string; file_id: string; state: string; chunk_count: number; chunks_done: number; bytes_done: string | number };
type Stub = Record<string, (...args: unknown[]) => unknown> & { close(): void };

/** `--data` of the swarm under test: the CLI takes its peer certificate from its cluster.json. */
let swarmData: string[] = [];

async function cli(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [CLI, '--nats', process.env.NATS_URL!, ...swarmData, ...args], { maxBuffer: 64 * MiB, timeout: 180_000 });
}

describe('gRPC admin API, discovered by reflection alone, against a real swarm', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ss-admin-'));
  const suffix = Math.random().toString(36).slice(2, 8);
  const A = `adm-a-${suffix}`;
  const B = `adm-b-${suffix}`;
  let swarm: LocalSwarm;
  let address: string;
  let admin: Stub;
  let md: Metadata;
  let Ctor: ServiceClientConstructor;
  /** The CLI's certificate from the swarm CA, as `up` records it for the user. */
  let tls: ChannelCredentials;
  const shares = new Map<string, string>();

  /** Share a fresh random file from node A with the CLI; returns its id. */
  async function share(name: string, bytes: number): Promise<string> {
    const input = join(dir, name);
    const data = Buffer.allocUnsafe(bytes);
    randomFillSync(data);
    writeFileSync(input, data);
    const out = await cli(['share', input, '--node', A]);
    const id = out.stdout.trim().split('\n').pop()!;
    shares.set(name, id);
    return id;
  }

  const unary = (method: string, req: object): Promise<any> =>
    new Promise((resolve, reject) => (admin[method] as (r: object, m: Metadata, cb: (e: ServiceError | null, v: unknown) => void) => void)(req, md, (e, v) => (e ? reject(e) : resolve(v))));
  const stream = (method: string, req: object) => (admin[method] as (r: object, m: Metadata) => ClientReadableStream<Progress>)(req, md);

  /** Everything a Fetch stream says, and how it ended. */
  function follow(call: ClientReadableStream<Progress>, onMessage?: (p: Progress, all: Progress[]) => void): Promise<{ messages: Progress[]; error?: ServiceError }> {
    return new Promise((resolve) => {
      const messages: Progress[] = [];
      call.on('data', (p: Progress) => {
        messages.push(p);
        onMessage?.(p, messages);
      });
      call.on('error', (error: ServiceError) => resolve({ messages, error }));
      call.on('end', () => resolve({ messages }));
    });
  }

  beforeAll(async () => {
    swarm = await LocalSwarm.start({
      nodes: 2,
      nodeIds: [A, B],
      dataDir: dir,
      natsUrl: process.env.NATS_URL,
      redisUrl: process.env.REDIS_URL,
      // Downloads slow enough (8 MiB/s) that a stream is still running when the tests act on it.
      extraEnv: { ANNOUNCE_INTERVAL_MS: '500', DOWNLOAD_RATE_LIMIT: '8MiB' },
    });
    swarmData = ['--data', swarm.dataDir];
    // What a user has: the address and token `swarmshare up` recorded, nothing else.
    const cluster = readClusterFile(dir)!;
    expect(statSync(join(dir, 'cluster.json')).mode & 0o077).toBe(0);
    address = `127.0.0.1:${cluster.grpcPorts['tracker-0']}`;
    md = new Metadata();
    md.set('authorization', `Bearer ${cluster.adminToken}`);
    // Mutual TLS with the swarm CA: the client certificate is the CLI's own.
    const files = cluster.peerTls!;
    tls = credentials.createSsl(readFileSync(files.ca), readFileSync(files.key), readFileSync(files.cert));

    const reflection = new GrpcReflection(address, tls);
    const services = await reflection.listServices();
    expect(services).toEqual(expect.arrayContaining(['grpc.health.v1.Health']));
    const name = services.find((s) => s.endsWith('.Admin'))!;
    expect(name).toBe('swarmshare.admin.v1.Admin');
    const methods = (await reflection.listMethods(name)).map((m) => m.name);
    expect(methods).toEqual(expect.arrayContaining(['ListFiles', 'GetFile', 'ListPeers', 'GetNode', 'Fetch', 'DeleteFile', 'Preheat']));
    const descriptor = await reflection.getDescriptorBySymbol(name);
    const pkg = descriptor.getPackageObject({ keepCase: true, longs: String, enums: String, defaults: true });
    Ctor = name.split('.').reduce<unknown>((o, part) => (o as GrpcObject)[part], pkg) as ServiceClientConstructor;
    admin = new Ctor(address, tls) as unknown as Stub;
  });

  afterAll(async () => {
    admin?.close();
    await swarm?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists the files the CLI lists, and fetches a file to another node as the CLI would', async () => {
    const fileId = await share('listed.bin', 3 * MiB + 17);
    const files = (await unary('ListFiles', {})).files as Array<Record<string, any>>;
    const listed = files.find((f) => f.file_id === fileId)!;
    expect(listed).toMatchObject({ name: 'listed.bin', size: String(3 * MiB + 17), chunk_count: 4, downloads: '0' });
    expect(listed.seeders.map((s: { node_id: string }) => s.node_id)).toEqual([A]);
    // The README's reflection-only script sees the same, from cluster.json alone.
    const script = join(REPO_ROOT, 'scripts', 'grpc-call.js');
    const listedByScript = JSON.parse((await run(process.execPath, [script, '--data', dir, 'ListFiles'], { timeout: 60_000 })).stdout);
    expect(listedByScript.files.map((f: { file_id: string }) => f.file_id)).toContain(fileId);
    expect((await run(process.execPath, [script, '--data', dir, 'list'], { timeout: 60_000 })).stdout).toMatch(/swarmshare\.admin\.v1\.Admin\n(  \w+\n)*  Fetch\n/);
    await expect(run(process.execPath, [script, '--data', dir, '--token', 'wrong-token-0123456789', 'ListPeers'], { timeout: 60_000 })).rejects.toMatchObject({ stderr: expect.stringMatching(/ListPeers failed: UNAUTHENTICATED/) });
    const ls = await cli(['ls']);
    const row = ls.stdout.split('\n').find((l) => l.startsWith(fileId.slice(0, 16)))!;
    // NAME SIZE CHUNKS SEEDERS PARTIAL LEECHERS REPLICAS DOWNLOADS EXPIRES PINNED, as `swarmshare ls` prints them.
    expect(row).toMatch(new RegExp(`listed\\.bin\\s+3\\.0 MiB\\s+4\\s+${A}\\s+-\\s+-\\s+-\\s+0\\s+-\\s+-$`));

    const { messages, error } = await follow(stream('Fetch', { node_id: B, file_id: fileId }));
    expect(error).toBeUndefined();
    const last = messages[messages.length - 1];
    expect(last).toMatchObject({ node_id: B, file_id: fileId, state: 'complete', chunk_count: 4, chunks_done: 4, bytes_done: String(3 * MiB + 17) });
    // Progress never steps back.
    for (let i = 1; i < messages.length; i++) expect(messages[i].chunks_done).toBeGreaterThanOrEqual(messages[i - 1].chunks_done);

    // The CLI sees the same outcome: B is a seeder and the download is counted.
    await eventually(async () => {
      const after = (await cli(['ls'])).stdout.split('\n').find((l) => l.startsWith(fileId.slice(0, 16)))!;
      expect(after).toMatch(new RegExp(`listed\\.bin\\s+3\\.0 MiB\\s+4\\s+(${A},${B}|${B},${A})\\s+-\\s+-\\s+-\\s+1\\s+-\\s+-$`));
    }, 15_000);
    const detail = await unary('GetFile', { file_id: fileId });
    expect(detail.ranges).toEqual([{ first: 0, last: 3, copies: 2, holders: expect.arrayContaining([A, B]) }]);
    expect(detail.min_copies).toBe(2);
    const node = await unary('GetNode', { node_id: B });
    expect(node.files.find((f: { file_id: string }) => f.file_id === fileId)).toMatchObject({ state: 'complete', chunks_present: 4 });
    expect(Number(node.space.free)).toBeGreaterThan(0);
  });

  it('refuses a client without a certificate, one with a certificate from another CA, and plaintext, before any call', async () => {
    const cluster = readClusterFile(dir)!;
    const other = (await ensurePeerPki(join(dir, 'other-ca'), ['cli-local']))['cli-local'];
    /** ListFiles with the right token over these credentials: its status code, or 'answered'. */
    const listFilesOver = async (creds: ChannelCredentials): Promise<number | string> => {
      const client = new Ctor(address, creds) as unknown as Stub;
      try {
        return await new Promise((resolve) =>
          (client.ListFiles as (r: object, m: Metadata, o: object, cb: (e: ServiceError | null) => void) => void)({}, md, { deadline: Date.now() + 10_000 }, (e) => resolve(e ? e.code : 'answered')),
        );
      } finally {
        client.close();
      }
    };
    const ca = readFileSync(cluster.peerTls!.ca);
    const attempts: Record<string, ChannelCredentials> = {
      // Trusts the server, but presents no certificate of its own.
      'no certificate': credentials.createSsl(ca),
      // A certificate of the same name, from a CA this swarm does not trust.
      'another CA': credentials.createSsl(ca, readFileSync(other.key), readFileSync(other.cert)),
      plaintext: credentials.createInsecure(),
      // The client checks the server too: one trusting only another CA does not talk to this tracker.
      'trusting another CA': credentials.createSsl(readFileSync(other.ca), readFileSync(other.key), readFileSync(other.cert)),
    };
    // The right token does not help: the channel never comes up.
    for (const [what, creds] of Object.entries(attempts)) expect({ what, result: await listFilesOver(creds) }).toEqual({ what, result: status.UNAVAILABLE });
    expect(await listFilesOver(tls)).toBe('answered');
  });

  it('stops following when the client cancels, and the node finishes the download anyway', async () => {
    const fileId = await share('cancelled.bin', 24 * MiB);
    const call = stream('Fetch', { node_id: B, file_id: fileId });
    const { messages, error } = await follow(call, () => call.cancel());
    expect(error?.code).toBe(status.CANCELLED);
    expect(messages.length).toBeGreaterThanOrEqual(1);
    expect(messages[0].state).not.toBe('complete');
    // The tracker still serves, and the download went on without the stream.
    await eventually(async () => {
      const node = await unary('GetNode', { node_id: B });
      expect(node.files.find((f: { file_id: string }) => f.file_id === fileId)).toMatchObject({ state: 'complete' });
    }, 30_000);
  });

  it('delivers the final state to a reader that stops reading for a while, without a backlog', async () => {
    const fileId = await share('slow-reader.bin', 24 * MiB);
    const call = stream('Fetch', { node_id: B, file_id: fileId });
    const done = follow(call, (_p, all) => {
      if (all.length === 1) {
        // Stop reading for 4 s: the download (about 3 s at 8 MiB/s) ends while this reader is paused.
        call.pause();
        setTimeout(() => call.resume(), 4000);
      }
    });
    const { messages, error } = await done;
    expect(error).toBeUndefined();
    expect(messages[messages.length - 1]).toMatchObject({ state: 'complete', chunks_done: 24 });
    for (let i = 1; i < messages.length; i++) expect(messages[i].chunks_done).toBeGreaterThanOrEqual(messages[i - 1].chunks_done);
    // Each state once at most: never more messages than distinct progress steps (queued, 24 chunks, complete).
    expect(new Set(messages.map((m) => `${m.state}/${m.chunks_done}`)).size).toBe(messages.length);
  });

  it('ends the stream with UNAVAILABLE when the downloading node dies mid-stream', async () => {
    const fileId = await share('interrupted.bin', 32 * MiB);
    const call = stream('Fetch', { node_id: B, file_id: fileId });
    let killed = false;
    const { messages, error } = await follow(call, (p) => {
      if (!killed && p.state === 'running') {
        killed = true;
        void swarm.stopNode(B, 'SIGKILL');
      }
    });
    expect(killed).toBe(true);
    expect(error?.code).toBe(status.UNAVAILABLE);
    expect(error?.details).toMatch(new RegExp(`swarm\\.node\\.${B}\\.gateway`));
    expect(messages.every((m) => m.state !== 'complete')).toBe(true);
  });
});
