import { connectNats, NatsRpc } from '@swarmshare/common/nats-client';
import { resolveNatsUrl } from './cluster-file';

export interface GlobalOptions {
  data?: string;
  nats?: string;
  timeout?: string;
}

/** What a command needs: a NATS connection to the swarm, and where to write results and messages. */
export interface CliContext {
  rpc: NatsRpc;
  /** Results, on stdout. */
  out(line: string): void;
  /** Messages and progress, on stderr. */
  info(line: string): void;
  close(): Promise<void>;
}

export async function openContext(opts: GlobalOptions): Promise<CliContext> {
  const url = resolveNatsUrl(opts);
  const nc = await connectNats(url, `swarmshare-cli-${process.pid}`, false).catch((e: Error) => {
    throw new Error(`cannot reach NATS at ${url} (${e.message}): is the swarm running (\`swarmshare up\`)?`);
  });
  const rpc = new NatsRpc(nc, Number(opts.timeout ?? 10_000));
  return {
    rpc,
    out: (l) => process.stdout.write(`${l}\n`),
    info: (l) => process.stderr.write(`${l}\n`),
    close: async () => {
      await nc.drain().catch(() => nc.close());
    },
  };
}
