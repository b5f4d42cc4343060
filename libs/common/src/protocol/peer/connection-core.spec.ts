import type { Socket } from 'node:net';
import { ConnectionCore, type ConnectionFeature, MsgType, type PeerConnectionOptions } from '@swarmshare/common';
import { socketPair } from '../../../test/memory-handler';

/** A core with only the features a test gives it. */
class BareConnection extends ConnectionCore {
  constructor(socket: Socket, opts: PeerConnectionOptions, features: ConnectionFeature[] = []) {
    super(socket, opts);
    for (const f of features) this.use(f);
  }
}

const FILE = 'ab'.repeat(32);

describe('ConnectionCore: features register for their message types', () => {
  it('hands a message to the feature that registered for it, with its validated body', async () => {
    const p = await socketPair();
    let seen!: (what: string) => void;
    const delivered = new Promise<string>((r) => (seen = r));
    const cancels: ConnectionFeature = { controls: { [MsgType.CANCEL]: (b) => seen(`cancel ${b.id}`) } };
    const server = new BareConnection(p.b, { nodeId: 'srv', listen: null }, [cancels]);
    const client = new BareConnection(p.a, { nodeId: 'cli-core', listen: null });
    await Promise.all([server.ready, client.ready]);
    client.sendControl(MsgType.CANCEL, { id: 7 });
    expect(await delivered).toBe('cancel 7');
    expect(server.state).toBe('open');
    client.close();
    p.close();
  });

  it('closes with a fatal PROTOCOL error on a message type no feature takes', async () => {
    const p = await socketPair();
    const server = new BareConnection(p.b, { nodeId: 'srv', listen: null });
    const client = new BareConnection(p.a, { nodeId: 'cli-core', listen: null });
    await Promise.all([server.ready, client.ready]);
    client.sendControl(MsgType.HAVE_REQUEST, { fileId: FILE });
    expect(await server.closed).toBe('PROTOCOL: HAVE_REQUEST is not taken on this connection');
    expect(await client.closed).toMatch(/peer closed the connection: PROTOCOL/);
    p.close();
  });

  it('refuses two features for one message type', async () => {
    const p = await socketPair();
    const a: ConnectionFeature = { controls: { [MsgType.CANCEL]: () => undefined } };
    expect(() => new BareConnection(p.b, { nodeId: 'srv', listen: null }, [a, a])).toThrow('two features take CANCEL');
    p.close();
  });
});
