import { resolve } from 'node:path';
import { LocalSwarm } from '../launcher/local-swarm';
import { clusterFilePath } from '../cluster-file';

export interface UpOptions {
  nodes: number;
  data: string;
  nats?: string;
  redis?: string;
}

/** `swarmshare up`: run a whole swarm as local processes until interrupted, then stop all of it. */
export async function up(opts: UpOptions): Promise<void> {
  const info = (l: string) => process.stderr.write(`${l}\n`);
  info(`starting a local swarm of ${opts.nodes} node(s) in ${resolve(opts.data)} ...`);
  const swarm = await LocalSwarm.start({ nodes: opts.nodes, dataDir: opts.data, natsUrl: opts.nats, redisUrl: opts.redis, onStatus: (l) => info(`  ${l}`) });
  info(`swarm ready; recorded in ${clusterFilePath(opts.data)}; logs in ${resolve(opts.data, 'logs')}`);
  info(`try: npx swarmshare share FILE --node a --data ${opts.data}`);
  info('press Ctrl-C to stop everything');
  await new Promise<void>((done) => {
    let stopping = false;
    const stop = () => {
      if (stopping) return;
      stopping = true;
      info('stopping the swarm ...');
      void swarm.stop().then(done);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    // A service that dies on its own is reported; the rest keep running.
    for (const s of [...swarm.tracker, ...swarm.nodes.flatMap((n) => [n.store, n.gateway])]) {
      void s.exited.then(({ code, signal }) => {
        if (!stopping) info(`warning: ${s.name} (pid ${s.proc.pid}) exited with code ${code} signal ${signal}; see ${resolve(opts.data, 'logs')}`);
      });
    }
  });
  info('stopped');
}
