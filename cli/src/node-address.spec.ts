import { connect, type NatsConnection } from 'nats';
import { gatewaySubjects, NatsRpc } from '@swarmshare/common';
import type { CliContext } from './context';
import { gatewayAddress } from './node-address';

/** Against the test's real nats-server: a node that starts answering within the grace is found; one that never does is reported. */
describe('gatewayAddress', () => {
  let nc: NatsConnection;
  let ctx: CliContext;
  beforeAll(async () => {
    nc = await connect({ servers: process.env.NATS_URL! });
    ctx = { rpc: new NatsRpc(nc, 2000), out: () => undefined, info: () => undefined, close: async () => undefined };
  });
  afterAll(() => nc.close());

  it('waits for a node that subscribes after the first ask (a gateway reconnecting to NATS)', async () => {
    const node = `late-${process.pid}`;
    const asked = gatewayAddress(ctx, node, 3000);
    await new Promise((r) => setTimeout(r, 600));
    const sub = nc.subscribe(gatewaySubjects(node).info, {
      callback: (_e, m) => m.respond(Buffer.from(JSON.stringify({ ok: true, result: { nodeId: node, address: '127.0.0.1:7001', connections: 0 } }))),
    });
    try {
      await expect(asked).resolves.toBe('127.0.0.1:7001');
    } finally {
      sub.unsubscribe();
    }
  });

  it('says the node is not running when nothing answers within the grace', async () => {
    await expect(gatewayAddress(ctx, `absent-${process.pid}`, 500)).rejects.toThrow(/does not answer: is it running/);
  });
});
