import { HANDSHAKE_TIMEOUT_MS, MAX_REQUESTS_IN_FLIGHT, MsgType, encodeControl, GatewayInfoSchema, gatewaySubjects, type NatsRpc } from '@swarmshare/common';
import type { NatsConnection } from 'nats';
import { type Node, connectClient, expectStillServes, natsRpc, startNode, uniqueId, waitForBuilds } from './cluster';
import { testPeerTls } from '../../../test/support/peer-tls';
import { makeFile } from '../../../libs/common/test/memory-handler';
import { RawPeer } from '../../../libs/common/test/raw-peer';
import type { PeerTlsMaterial } from '@swarmshare/common';

/**
 * A running gateway (from dist, with its real chunk-store, peer TLS on) fed bad input over raw
 * sockets that passed the TLS handshake with a certificate of the swarm CA (named `cli-rawtest`,
 * the id RawPeer says HELLO with). Every
 * violation gets a fatal ERROR frame with the reason and a close; the gateway keeps serving.
 */
describe('peer protocol abuse against a running gateway', () => {
  let node: Node;
  let rpc: NatsRpc;
  let nc: NatsConnection;
  const file = makeFile(3 * 64 * 1024 + 10);
  let port: number;
  let rawTls: PeerTlsMaterial;
  const rawPeer = () => RawPeer.connect(port, '127.0.0.1', rawTls);

  beforeAll(async () => {
    await waitForBuilds();
    ({ rpc, nc } = await natsRpc());
    node = await startNode(uniqueId('abuse'));
    port = Number(node.address.split(':')[1]);
    rawTls = await testPeerTls('cli-rawtest');
    const c = await connectClient(node);
    await c.offerAndStore(file.manifest, (i) => file.chunk(i));
    await c.close();
  });

  afterAll(async () => {
    await node?.stop();
    await nc?.close();
  });

  /** After each case the gateway still answers a well-behaved client. */
  afterEach(() => expectStillServes(node, file, 3));

  async function violation(send: (raw: RawPeer) => void, reason: RegExp, code = 'PROTOCOL'): Promise<RawPeer> {
    const raw = await rawPeer();
    send(raw);
    const err = await raw.fatalError();
    expect(err.code).toBe(code);
    expect(err.message).toMatch(reason);
    await raw.waitClosed();
    return raw;
  }

  it('garbage bytes', async () => {
    await violation((r) => r.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')), /exceeds the limit|unknown message type/);
  });

  it('a length prefix claiming 4 GiB, before and after HELLO', async () => {
    const huge = Buffer.from([0xff, 0xff, 0xff, 0xff, MsgType.HELLO]);
    await violation((r) => r.write(huge), /control frame of 4294967294 bytes exceeds the limit of 1048576/);
    const hugePiece = Buffer.from([0xff, 0xff, 0xff, 0xff, MsgType.PIECE]);
    await violation((r) => (r.hello(), r.write(hugePiece)), /data frame payload of \d+ bytes exceeds the limit of 67108864/);
  });

  it('an unknown message type', async () => {
    await violation((r) => (r.hello(), r.write(Buffer.from([0, 0, 0, 3, 0x40, 0x7b, 0x7d]))), /unknown message type 0x40/);
  });

  it('bad JSON, and JSON that breaks the schema', async () => {
    await violation((r) => (r.hello(), r.write(Buffer.concat([Buffer.from([0, 0, 0, 5, MsgType.HAVE_REQUEST]), Buffer.from('{"fi')]))), /not JSON/);
    await violation((r) => r.write(encodeControl(MsgType.HELLO, { version: 1, nodeId: 'Not A Valid Id!', listen: null } as never)), /malformed HELLO: nodeId/);
  });

  it('no HELLO within the handshake timeout, and a request instead of HELLO', async () => {
    const raw = await violation(() => undefined, new RegExp(`no HELLO within ${HANDSHAKE_TIMEOUT_MS} ms`), 'TIMEOUT');
    // The gateway still says HELLO first itself.
    expect(raw.frames[0].type).toBe(MsgType.HELLO);
    await violation((r) => r.send(MsgType.REQUEST, { id: 1, fileId: file.manifest.fileId, index: 0 }), /expected HELLO first, got REQUEST/);
    await violation((r) => r.storeChunk(1, file.manifest.fileId, 0, Buffer.alloc(10)), /STORE data frame before HELLO/);
  });

  it(`more than ${MAX_REQUESTS_IN_FLIGHT} requests in flight`, async () => {
    const burst = Buffer.concat(Array.from({ length: 4 * MAX_REQUESTS_IN_FLIGHT }, (_, id) => encodeControl(MsgType.REQUEST, { id, fileId: file.manifest.fileId, index: id % 4 })));
    await violation((r) => (r.hello(), r.write(burst)), new RegExp(`more than ${MAX_REQUESTS_IN_FLIGHT} requests in flight`));
  });

  it('a PIECE for a request never made', async () => {
    await violation((r) => (r.hello(), r.piece(99, Buffer.alloc(100))), /PIECE for request id 99, which was never made/);
  });

  it('requests that cannot be served get a non-fatal ERROR{id}; the connection stays usable', async () => {
    const raw = await rawPeer();
    raw.hello();
    const unknown = 'ab'.repeat(32);
    raw.send(MsgType.REQUEST, { id: 1, fileId: unknown, index: 0 });
    raw.send(MsgType.REQUEST, { id: 2, fileId: file.manifest.fileId, index: 4 });
    raw.send(MsgType.MANIFEST_REQUEST, { id: 3, fileId: unknown });
    raw.storeChunk(4, unknown, 0, Buffer.alloc(64 * 1024));
    raw.send(MsgType.HAVE_REQUEST, { fileId: unknown });
    const errorFor = (id: number) => raw.frame((f) => f.type === MsgType.ERROR && (f as { body: { id?: number } }).body.id === id);
    expect(await errorFor(1)).toMatchObject({ body: { code: 'NOT_FOUND', fatal: false } });
    expect(await errorFor(2)).toMatchObject({ body: { code: 'OUT_OF_RANGE', fatal: false } });
    expect(await errorFor(3)).toMatchObject({ body: { code: 'NOT_FOUND', fatal: false } });
    expect(await errorFor(4)).toMatchObject({ body: { code: 'NOT_FOUND', fatal: false } });
    expect(await raw.frame((f) => f.type === MsgType.HAVE)).toMatchObject({ body: { fileId: unknown, chunkCount: 0, bitfield: '' } });
    // Still open: a good request on the same connection is served.
    raw.send(MsgType.REQUEST, { id: 5, fileId: file.manifest.fileId, index: 0 });
    const piece = await raw.frame<{ type: MsgType.PIECE; id: number; data: Buffer }>((f) => f.type === MsgType.PIECE);
    expect(piece.id).toBe(5);
    expect(piece.data.equals(file.chunk(0))).toBe(true);
    expect(raw.frames.some((f) => f.type === MsgType.ERROR && (f as { body: { fatal: boolean } }).body.fatal)).toBe(false);
    raw.destroy();
  });

  it('a STORE of a corrupt chunk is refused with HASH_MISMATCH, and the chunk can then be stored', async () => {
    const f = makeFile(2 * 64 * 1024);
    const c = await connectClient(node);
    await c.connection.offer(f.manifest);
    const bad = Buffer.from(f.chunk(1));
    bad[0] ^= 1;
    await expect(c.connection.store(f.manifest.fileId, 1, bad)).rejects.toMatchObject({ code: 'HASH_MISMATCH' });
    await expect(c.connection.store(f.manifest.fileId, 1, Buffer.alloc(5))).rejects.toMatchObject({ code: 'BAD_LENGTH' });
    // The failed writes released their locks: the right bytes go in at once.
    await c.offerAndStore(f.manifest, (i) => f.chunk(i));
    expect((await c.have(f.manifest.fileId)).bitfield.count()).toBe(2);
    await c.close();
  });

  it('info reports the node, its address and open connections', async () => {
    const info = await rpc.request(gatewaySubjects(node.id).info, {}, GatewayInfoSchema);
    expect(info).toEqual({ nodeId: node.id, address: node.address, connections: expect.any(Number), neighbours: [] });
    await expect(rpc.request(gatewaySubjects(node.id).fetch, { fileId: 'nope' }, GatewayInfoSchema)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(rpc.request(gatewaySubjects(node.id).status, { fileId: 'cd'.repeat(32) }, GatewayInfoSchema)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
