/**
 * Attacks on the peer plane of a running swarm (tracker, chunk-store and peer-gateway from dist,
 * real nats-server and redis-server, peer TLS on as `swarmshare up` runs it). Each is refused,
 * with nothing stored and nothing counted.
 */
import { connect as tlsConnect } from 'node:tls';
import { z } from 'zod';
import {
  CandidateSchema,
  FileRecordSchema,
  MsgType,
  type NatsRpc,
  PeerClient,
  type PeerTlsMaterial,
  TrackerSubjects,
  createPeerCa,
  issuePeerCertificate,
} from '@swarmshare/common';
import type { NatsConnection } from 'nats';
import { type Node, natsRpc, share, startNode, startTracker, uniqueId, waitForBuilds, waitSeeder } from '../../services/peer-gateway/test/cluster';
import type { RunningService } from '../support/services';
import { testPeerTls } from '../support/peer-tls';
import { makeFile } from '../../libs/common/test/memory-handler';
import { RawPeer } from '../../libs/common/test/raw-peer';

describe('peer plane attacks against a running swarm with peer TLS on', () => {
  let tracker: RunningService;
  let node: Node;
  let rpc: NatsRpc;
  let nc: NatsConnection;
  let port: number;
  const shared = makeFile(3 * 64 * 1024 + 5);
  /** A file nobody may get into the node. */
  const intruder = makeFile(64 * 1024);

  beforeAll(async () => {
    await waitForBuilds();
    ({ rpc, nc } = await natsRpc());
    tracker = await startTracker();
    node = await startNode(uniqueId('sec'));
    port = Number(node.address.split(':')[1]);
    await share(rpc, node, shared);
    await waitSeeder(rpc, shared.manifest.fileId, node.id);
  });

  afterAll(async () => {
    await node?.stop();
    await tracker?.stop();
    await nc?.close();
  });

  const record = () => rpc.request(TrackerSubjects.getFile, { fileId: shared.manifest.fileId }, FileRecordSchema);

  /** The intruder's file is not on the node, and the shared file's counts are as before. */
  async function nothingStoredOrCounted(before: z.infer<typeof FileRecordSchema>): Promise<void> {
    const c = await PeerClient.connect(node.address, { tls: await testPeerTls() });
    expect((await c.have(intruder.manifest.fileId)).chunkCount).toBe(0);
    await c.close();
    const after = await record();
    expect(after.downloads).toBe(before.downloads);
    expect(after.seeders.map((s) => s.nodeId)).toEqual(before.seeders.map((s) => s.nodeId));
    expect(node.gateway.proc.exitCode).toBeNull();
  }

  /** Push the intruder's file as a plaintext or TLS raw peer; the connection must die before any answer. */
  async function pushRefused(raw: RawPeer): Promise<void> {
    raw.hello('cli-intruder');
    raw.send(MsgType.STORE_OFFER, { id: 1, manifest: intruder.manifest });
    raw.storeChunk(2, intruder.manifest.fileId, 0, intruder.chunk(0));
    raw.send(MsgType.RECEIPT, { id: 3, fileId: shared.manifest.fileId, bytes: 10 * shared.manifest.size, chunks: 3 });
    await raw.waitClosed();
    // Not one frame came back: not even the gateway's HELLO (no protocol was spoken).
    expect(raw.frames).toEqual([]);
  }

  it('an unauthenticated (plaintext) peer is refused before any frame is parsed', async () => {
    const before = await record();
    await pushRefused(await RawPeer.connect(port));
    await nothingStoredOrCounted(before);
  });

  it('a TLS peer without a certificate is refused at the handshake', async () => {
    const before = await record();
    const tls = await testPeerTls();
    const err = await new Promise<Error | undefined>((resolve) => {
      const s = tlsConnect({ host: '127.0.0.1', port, ca: tls.ca, checkServerIdentity: () => undefined });
      s.on('secureConnect', () => s.write(Buffer.from([0, 0, 0, 2, MsgType.HELLO, 0x7b, 0x7d])));
      s.on('data', () => resolve(new Error('the gateway answered a peer without a certificate')));
      s.on('error', () => resolve(undefined));
      s.on('close', () => resolve(undefined));
    });
    expect(err).toBeUndefined();
    await nothingStoredOrCounted(before);
  });

  it('a peer with a certificate from another CA is refused', async () => {
    const before = await record();
    const ours = await testPeerTls();
    const otherCa = await createPeerCa('attacker CA');
    const cert = await issuePeerCertificate(otherCa, 'cli-intruder');
    // It trusts our CA (so it would talk to the gateway), but its own certificate is the other CA's.
    const forged: PeerTlsMaterial = { ca: ours.ca, cert: Buffer.from(cert.certPem), key: Buffer.from(cert.keyPem), identity: 'cli-intruder' };
    const raw = await RawPeer.connect(port, '127.0.0.1', forged).catch(() => undefined);
    if (raw) await pushRefused(raw); // TLS 1.3: the client may finish its side before the server refuses
    await expect(PeerClient.connect(node.address, { tls: forged })).rejects.toThrow();
    await nothingStoredOrCounted(before);
  });

  it('a spoofed node id (HELLO naming another node than the certificate) is refused', async () => {
    const before = await record();
    const raw = await RawPeer.connect(port, '127.0.0.1', await testPeerTls('cli-mallory'));
    raw.hello(node.id); // claims to be the node itself, e.g. to be listed as its seeder
    expect(await raw.fatalError()).toMatchObject({ code: 'AUTH', message: expect.stringMatching(/issued to cli-mallory/) });
    raw.send(MsgType.RECEIPT, { id: 3, fileId: shared.manifest.fileId, bytes: shared.manifest.size, chunks: 3 });
    await raw.waitClosed();
    await nothingStoredOrCounted(before);
  });

  it('a forged receipt (10x the file, from a peer that was served nothing) is refused and not counted', async () => {
    const before = await record();
    const c = await PeerClient.connect(node.address, { tls: await testPeerTls('cli-forger') });
    await expect(c.connection.receipt(shared.manifest.fileId, 10 * shared.manifest.size, 3)).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/served 0/) });
    // Served one chunk: acking more than that chunk is refused too.
    const one = await c.requestChunk(shared.manifest, 0);
    await expect(c.connection.receipt(shared.manifest.fileId, one.length + 1, 1)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await c.close();
    await nothingStoredOrCounted(before);
  });

  it('an uncapped offer (a 64 KiB file reserving 50 GiB) is refused: nothing reserved, nothing created', async () => {
    const before = await record();
    const reservedOnNode = async () =>
      (await rpc.request(TrackerSubjects.peerCandidates, { exclude: [] }, z.array(CandidateSchema))).find((p) => p.nodeId === node.id)?.reserved ?? 0;
    const reservedBefore = await reservedOnNode();
    const c = await PeerClient.connect(node.address, { tls: await testPeerTls('cli-greedy') });
    await expect(c.connection.offer(intruder.manifest, { uploadId: 'up-greedy-0001', bytes: 50 * 1024 ** 3 })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      message: expect.stringMatching(/at most the file's size/),
    });
    await c.close();
    expect(await reservedOnNode()).toBe(reservedBefore);
    await nothingStoredOrCounted(before);
  });
});
