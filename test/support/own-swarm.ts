import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { NatsRpc, natsServerOptions } from '@swarmshare/common';
import { LocalSwarm, type SwarmOptions } from '../../cli/src/launcher/local-swarm';

export interface OwnSwarm {
  /** The test file's temporary directory (the swarm's data lives below it). */
  readonly dir: string;
  readonly swarm: LocalSwarm;
  readonly nc: NatsConnection;
  /** Requests with a 10 s timeout. */
  readonly rpc: NatsRpc;
}

/**
 * A whole local swarm of one test file, with its own nats-server (JetStream) and redis-server, so
 * the file may stop services, flush Redis or replay streams without touching the others: started
 * before the file's tests, with a NATS client; stopped and removed after them.
 */
export function ownSwarm(tmpPrefix: string, opts: Omit<SwarmOptions, 'dataDir'>): OwnSwarm {
  const own = { dir: mkdtempSync(join(tmpdir(), tmpPrefix)) } as { dir: string; swarm: LocalSwarm; nc: NatsConnection; rpc: NatsRpc };
  beforeAll(async () => {
    own.swarm = await LocalSwarm.start({ ...opts, dataDir: own.dir });
    own.nc = await connect(natsServerOptions(own.swarm.urls.natsUrl, own.swarm.natsCa));
    own.rpc = new NatsRpc(own.nc, 10_000);
  });
  afterAll(async () => {
    await own.nc?.close();
    await own.swarm?.stop();
    rmSync(own.dir, { recursive: true, force: true });
  });
  return own;
}
