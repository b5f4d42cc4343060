import 'reflect-metadata';
import { PeerGatewayConfigSchema, runService } from '@swarmshare/common';
import { PeerGatewayModule } from './app.module';
import { PeerServer } from './transport/peer-server';

runService({
  name: 'peer-gateway',
  description: "A node's peer gateway: the TCP peer protocol, downloads and announces",
  configSchema: PeerGatewayConfigSchema,
  module: (config, logger) => PeerGatewayModule.forRoot(config, logger),
  // The real address (PEER_PORT=0 lets the OS choose) goes into the ready line for launchers and tests.
  readyInfo: (app, config) => {
    const server = app.get(PeerServer);
    return { nodeId: config.NODE_ID, address: server.address, port: server.port };
  },
}).catch((err: unknown) => {
  // e.g. PEER_PORT already in use: say so and exit, rather than an unhandled rejection.
  process.stderr.write(`peer-gateway failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
