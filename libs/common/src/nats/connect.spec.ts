import { spawn } from 'node:child_process';
import { freePort, waitForPort } from '../../../../cli/src/launcher/local-servers';
import { connectNats, natsServerOptions } from './connect';

describe('NATS_URL credentials', () => {
  it('splits user:pass and tokens out of the server URLs', () => {
    expect(natsServerOptions('nats://a:4222,nats://b:4222')).toEqual({ servers: ['nats://a:4222', 'nats://b:4222'] });
    expect(natsServerOptions('nats://swarm:p%40ss@nats-0:4222,nats://nats-1:4222')).toEqual({ servers: ['nats://nats-0:4222', 'nats://nats-1:4222'], user: 'swarm', pass: 'p@ss' });
    // tls:// makes TLS required (system CAs), a CA file makes it required and verified against that CA.
    expect(natsServerOptions('tls://tok123@host:4222')).toEqual({ servers: ['tls://host:4222'], token: 'tok123', tls: {} });
    expect(natsServerOptions('nats://host:4222', '/ca.pem')).toEqual({ servers: ['nats://host:4222'], tls: { caFile: '/ca.pem' } });
  });

  it('connects to a server that requires a password given in the URL', async () => {
    const port = await freePort();
    const server = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port), '--user', 'swarm', '--pass', 's3cret'], { stdio: 'ignore' });
    try {
      await waitForPort(port);
      const nc = await connectNats(`nats://swarm:s3cret@127.0.0.1:${port}`, 'auth-test', false);
      await nc.flush();
      await nc.close();
      await expect(connectNats(`nats://swarm:wrong@127.0.0.1:${port}`, 'auth-test', false)).rejects.toThrow(/Authorization/);
    } finally {
      server.kill('SIGKILL');
    }
  });
});
