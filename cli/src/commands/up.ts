import { resolve } from 'node:path';
import { LocalSwarm } from '../launcher/local-swarm';
import { clusterFilePath } from '../cluster-file';
import { Supervisor } from '../launcher/supervisor';

/** How often `up` checks that its parent process is still there. */
const PARENT_POLL_MS = 500;
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export interface UpOptions {
  nodes: number;
  data: string;
  nats?: string;
  redis?: string;
  /** No peer TLS (explicit opt-out; warned about). */
  insecure?: boolean;
}

/**
 * `swarmshare up`: run a whole swarm as local processes until interrupted, then stop all of it.
 * Services that die are restarted (Supervisor); SIGINT, SIGTERM, SIGHUP or the death of the parent
 * process stop everything.
 */
export async function up(opts: UpOptions): Promise<void> {
  const info = (l: string) => process.stderr.write(`${l}\n`);
  // Listen from the first moment, so a stop asked for while the swarm is still starting is honoured
  // as soon as it is up, rather than killing us and orphaning what was already started.
  let requested: string | undefined;
  let onStopRequest: (why: string) => void = (why) => void (requested ??= why);
  const handlers = STOP_SIGNALS.map((sig) => [sig, () => onStopRequest(sig)] as const);
  for (const [sig, h] of handlers) process.on(sig, h);
  // Whoever started us (a shell, npx, a test) may die without passing a signal on: when our parent
  // changes we have been orphaned, and a swarm nobody can stop must not be left running.
  const parent = process.ppid;
  const parentWatch = setInterval(() => {
    if (process.ppid !== parent) onStopRequest(`the parent process (pid ${parent}) is gone`);
  }, PARENT_POLL_MS);
  try {
    info(`starting a local swarm of ${opts.nodes} node(s) in ${resolve(opts.data)} ...`);
    const swarm = await LocalSwarm.start({ nodes: opts.nodes, dataDir: opts.data, natsUrl: opts.nats, redisUrl: opts.redis, insecure: opts.insecure, onStatus: (l) => info(`  ${l}`) });
    const supervisor = new Supervisor(swarm, info);
    supervisor.start();
    info(`swarm ready; recorded in ${clusterFilePath(opts.data)}; logs in ${resolve(opts.data, 'logs')}`);
    info(`try: npx swarmshare share FILE --node a --data ${opts.data}`);
    info('press Ctrl-C to stop everything');
    const why = requested ?? (await new Promise<string>((r) => (onStopRequest = r)));
    info(`${why}: stopping the swarm ...`);
    await supervisor.stop();
    await swarm.stop();
    info('stopped');
  } finally {
    clearInterval(parentWatch);
    for (const [sig, h] of handlers) process.off(sig, h);
  }
}
