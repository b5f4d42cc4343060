import { connectNats, NatsRpc, natsServerOptions } from '@swarmshare/common/nats-client';
import type { PeerTlsMaterial } from '@swarmshare/common/security';
import { resolveNats } from './cluster-file';
import { resolvePeerTls } from './peer-tls';

export interface GlobalOptions {
  data?: string;
  nats?: string;
  timeout?: string;
}

/** What a command needs: a NATS connection to the swarm, and where to write results and messages. */
export interface CliContext {
  rpc: NatsRpc;
  /** Certificate for connections to gateways (peer mutual TLS); undefined = plaintext. */
  peerTls?: PeerTlsMaterial;
  /** Results, on stdout. */
  out(line: string): void;
  /** Messages and progress, on stderr. */
  info(line: string): void;
  close(): Promise<void>;
}

export async function openContext(opts: GlobalOptions): Promise<CliContext> {
  const { url, caFile } = resolveNats(opts);
  const peerTls = resolvePeerTls(opts);
  // The URL may carry the admin's password (cluster.json): an error names the servers without it.
  const nc = await connectNats(url, `swarmshare-cli-${process.pid}`, false, caFile).catch((e: Error) => {
    throw new Error(`cannot reach NATS at ${natsServerOptions(url).servers.join(',')} (${e.message}): is the swarm running (\`swarmshare up\`)?`);
  });
  const rpc = new NatsRpc(nc, Number(opts.timeout ?? 10_000));
  return {
    rpc,
    peerTls,
    out: (l) => process.stdout.write(`${l}\n`),
    info: (l) => process.stderr.write(`${l}\n`),
    close: async () => {
      await nc.drain().catch(() => nc.close());
    },
  };
}
