#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
// Start-up time matters (docs/performance.md): only commander and these small modules load before
// a command runs; each command loads its own code (and zod, NATS, the peer protocol) when chosen.
import { SwarmError, EXIT_CODES, exitCodeFor, isErrorCode } from '@swarmshare/common/errors';
import { parseSize } from '@swarmshare/common/sizes';
import { parseTtl } from '@swarmshare/common/durations';
import { DEFAULT_DATA_DIR } from './defaults';
import type { CliContext, GlobalOptions } from './context';
import { skipZodLocales } from './lean-zod';

skipZodLocales();

function intOption(name: string, min: number, max: number) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}`);
    return n;
  };
}
function percentOption(v: string): number {
  const n = Number(v.replace(/%$/, ''));
  if (!Number.isFinite(n) || n <= 0 || n > 100) throw new InvalidArgumentError('--percent must be a number above 0 and at most 100');
  return n;
}
function sizeOption(v: string): number {
  try {
    return parseSize(v);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

function ttlOption(v: string): number {
  try {
    return parseTtl(v);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

/** The CLI package's version (cli/package.json, beside dist/). */
const VERSION = (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;

const program = new Command()
  .name('swarmshare')
  .description('Peer-to-peer file distribution: share a file from one node, fetch it on any other.')
  .version(VERSION, '-V, --version', 'print the version and exit')
  .option('--data <dir>', 'directory of the local swarm (cluster.json)', DEFAULT_DATA_DIR)
  .option('--nats <url>', 'NATS URL of the swarm (overrides --data)')
  .option('--timeout <ms>', 'timeout of each request to the swarm', '10000')
  // Each command's help lists the options every command takes (--data, --nats, --timeout) too.
  .configureHelp({ showGlobalOptions: true })
  .showHelpAfterError()
  // A usage error (unknown option, bad value) exits 2, as documented in docs/cli.md; help and --version 0.
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : EXIT_CODES.usage));

/** Run a command that talks to the swarm, turning errors into one clear line and exit code 1. */
function withContext<A extends unknown[]>(fn: (ctx: CliContext, ...args: A) => Promise<void>) {
  return async (...args: A) => {
    const { openContext } = await import('./context');
    const ctx = await openContext(program.opts<GlobalOptions>());
    try {
      await fn(ctx, ...args);
    } finally {
      await ctx.close();
    }
  };
}

program
  .command('up')
  .description('start a whole local swarm (nats-server, redis-server, tracker, N nodes) in the foreground')
  .option('--nodes <n>', 'number of nodes (named a, b, c, ...)', intOption('--nodes', 1, 100), 3)
  .option('--redis <url>', 'use this Redis instead of starting redis-server')
  .option('--insecure', 'run without TLS: peer plane, NATS, Redis and the gRPC admin API (default: a swarm CA and certificates under DATA/tls)')
  .action(async (o: { nodes: number; redis?: string; insecure?: boolean }) => {
    const g = program.opts<GlobalOptions>();
    const { up } = await import('./commands/up');
    await up({ nodes: o.nodes, data: g.data ?? DEFAULT_DATA_DIR, nats: g.nats, redis: o.redis, insecure: o.insecure });
  });

program
  .command('share <file>')
  .description('put FILE into a node and register it with the tracker; prints the file id last')
  .requiredOption('--node <id>', 'node that receives the file (e.g. a)')
  .option('--chunk-size <size>', 'chunk size, a multiple of 64KiB (default: follows the file size, 1MiB up to 256MiB, then size/500 rounded up to a power of two, 4MiB to 64MiB)', sizeOption)
  .option('--name <name>', 'name to register (default: the file name)')
  .option('--replicas <n>', 'also push N copies of every chunk to the other peers with the most free space', intOption('--replicas', 1, 16))
  .option('--alloc <sizes>', 'also push copies to these peers, at most this much each (NODE=SIZE, or NODE=free for all its free space), e.g. b=64MiB,c=free')
  .option('--no-interactive', 'never ask for an allocation, even in a terminal')
  .option('--ttl <duration>', 'the file expires after this long (e.g. 90m, 24h, 7d; 1s to 3650d): every holder evicts it then (docs/operations.md, "TTL and pins")', ttlOption)
  .option('--json', 'print the summary as one JSON object instead of the file id (docs/cli.md)')
  .action(
    withContext(async (ctx, file: string, o: { node: string; chunkSize?: number; name?: string; replicas?: number; alloc?: string; interactive: boolean; ttl?: number; json?: boolean }) =>
      (await import('./commands/share')).share(ctx, { file, ...o, interactive: o.interactive !== false && process.stdin.isTTY === true && process.stderr.isTTY === true }).then(() => undefined),
    ),
  );

program
  .command('fetch <fileId>')
  .description('download a file to a node from its holders, then write it to --output; FILEID may be any unique prefix of 8+ characters')
  .requiredOption('--node <id>', 'node that downloads the file (e.g. b)')
  .option('-o, --output <path>', 'where to write the file')
  .option('--discover <how>', 'how to find holders: tracker, flood or iterative (default: the tracker when it answers, else iterative)')
  .option('--peers <list>', 'overlay peers host:port,... the node joins before looking')
  .option('--stream', 'with -o: stream the chunks into the file even where an in-kernel copy from the node is possible')
  .option('--json', 'print the summary as one JSON object (docs/cli.md)')
  .action(
    withContext(async (ctx, fileId: string, o: { node: string; output?: string; discover?: string; peers?: string; stream?: boolean; json?: boolean }) => {
      const { fetch, parseDiscover, parsePeers } = await import('./commands/fetch');
      return fetch(ctx, {
        fileId,
        node: o.node,
        output: o.output,
        discover: o.discover === undefined ? undefined : parseDiscover(o.discover),
        peers: o.peers === undefined ? undefined : parsePeers(o.peers),
        stream: o.stream,
        json: o.json,
      }).then(() => undefined);
    }),
  );

program
  .command('rm <fileId>')
  .description('delete a file from one node (--node) or from every holder and the tracker (--everywhere); prints the file id')
  .option('--node <id>', 'node to delete the file from (its download or upload of the file is cancelled)')
  .option('--everywhere', 'delete from every holder and remove the tracker\'s record; a node that is down deletes it when it returns')
  .option('--json', 'print what each node did as one JSON object (docs/cli.md)')
  .action(withContext(async (ctx, fileId: string, o: { node?: string; everywhere?: boolean; json?: boolean }) => (await import('./commands/rm')).rm(ctx, { fileId, ...o })));

program
  .command('preheat [fileId]')
  .description('make chosen nodes download a file from the swarm in the background, at most K at once; the tracker runs the job (it survives a tracker restart, and nodes that are down get the file when they come back)')
  .option('--nodes <list>', 'these nodes, comma-separated (b,c)', (v: string) => v.split(',').map((x) => x.trim()).filter((x) => x.length > 0))
  .option('--all', 'every live peer')
  .option('--percent <p>', 'this share of the live peers (0 < P <= 100), at least one; peers without the file first', percentOption)
  .option('--concurrency <k>', 'downloads running at once (1 to 64, default 4)', intOption('--concurrency', 1, 64))
  .option('--status <job>', 'show a job (followed until no node is queued or running, unless --detach)')
  .option('--cancel <job>', 'cancel a job: nodes not started yet are not; downloads already running finish')
  .option('--detach', 'return once the job is started, without following it')
  .option('--json', 'print the job as one JSON object (docs/cli.md)')
  .action(
    withContext(async (ctx, fileId: string | undefined, o: { nodes?: string[]; all?: boolean; percent?: number; concurrency?: number; status?: string; cancel?: string; detach?: boolean; json?: boolean }) =>
      (await import('./commands/preheat')).preheat(ctx, { ...(fileId !== undefined ? { fileId } : {}), ...o }),
    ),
  );

program
  .command('gc')
  .description("run a node's garbage collection now: evict files past their TTL, then, above its high watermark, complete unpinned files least recently used first (never the swarm's last copy of a live file)")
  .requiredOption('--node <id>', 'node to collect on')
  .option('--json', 'print the report as one JSON object (docs/cli.md)')
  .action(withContext(async (ctx, o: { node: string; json?: boolean }) => (await import('./commands/gc')).gc(ctx, o)));

for (const pinned of [true, false]) {
  program
    .command(`${pinned ? 'pin' : 'unpin'} <fileId>`)
    .description(pinned ? "pin a file on a node: that node's watermark GC never evicts it (its TTL still applies)" : 'clear the pin of a file on a node')
    .requiredOption('--node <id>', pinned ? 'node that holds the file and keeps it' : 'node to unpin it on')
    .option('--json', 'print the reply as one JSON object (docs/cli.md)')
    .action(withContext(async (ctx, fileId: string, o: { node: string; json?: boolean }) => (await import('./commands/pin')).pin(ctx, { fileId, pinned, ...o })));
}

program
  .command('ls')
  .description('list files with their expiry (share --ttl), holders (complete or partial, pinned), leechers, replicas and downloads')
  .option('--json', 'print the list as JSON (docs/cli.md)')
  .action(withContext(async (ctx, o: { json?: boolean }) => (await import('./commands/views')).listFiles(ctx, o)));
program
  .command('peers')
  .description("list live peers with capacity and free space; with --node, that node's overlay neighbours")
  .option('--node <id>', "show this node's overlay neighbours instead (works without a tracker)")
  .option('--json', 'print the list as JSON (docs/cli.md)')
  .action(
    withContext(async (ctx, o: { node?: string; json?: boolean }) =>
      o.node ? (await import('./commands/neighbours')).listNeighbours(ctx, o.node, o) : (await import('./commands/views')).listPeers(ctx, o),
    ),
  );

program
  .command('demo')
  .description('the main job: start a local swarm, share a random file from node a, fetch it on node b, verify, stop')
  .option('--size <size>', 'size of the random file', sizeOption, 64 * 1024 * 1024 + 12345)
  .action(async (o: { size: number }) => {
    const g = program.opts<GlobalOptions>();
    const { demo } = await import('./commands/demo');
    await demo({ size: o.size, data: g.data ?? DEFAULT_DATA_DIR });
  });

program
  .command('pki <ids...>')
  .description('make the swarm peer CA (once) and a certificate per id (node ids, cli-… for clients) for peer mutual TLS')
  .option('--dir <dir>', 'where the CA and certificates go (default: DATA/tls, where `up` keeps them)')
  .option('--host <id=names>', 'make id a server certificate (nats-server, the admin API) for these comma-separated DNS names/IPs; repeatable', (v: string, all: string[]) => [...all, v], [])
  .action(async (ids: string[], o: { dir?: string; host: string[] }) => {
    const g = program.opts<GlobalOptions>();
    // The lean entry point: the whole library loads the mmap addon, whose loader (node-pre-gyp) reads
    // process.argv and takes --dir for its own --directory, which made `pki --dir DIR` fail.
    const { ensurePeerPki } = await import('@swarmshare/common/security');
    const { pkiDir } = await import('./launcher/peer-pki');
    const hosts: Record<string, string[]> = {};
    for (const h of o.host) {
      const [id, names] = h.split('=', 2);
      if (!id || !names || !ids.includes(id)) throw new Error(`--host ${h}: expected <id>=<name>[,<name>...] for one of the ids given (${ids.join(' ')})`);
      hosts[id] = names.split(',').map((n) => n.trim()).filter(Boolean);
    }
    const paths = await ensurePeerPki(o.dir ?? pkiDir(g.data ?? DEFAULT_DATA_DIR), ids, hosts);
    for (const [id, p] of Object.entries(paths)) process.stdout.write(`${id}\t${p.cert}\t${p.key}\n`);
  });

program
  .command('control-plane')
  .description('render the NATS and Redis users of a compose or Kubernetes deployment (nats.conf, users.acl, a password per user, kept across runs); docs/operations.md')
  .requiredOption('--target <target>', 'compose or k8s', (v: string) => {
    if (v !== 'compose' && v !== 'k8s') throw new Error(`--target ${v}: expected compose or k8s`);
    return v;
  })
  .requiredOption('--out <dir>', 'where the files go (compose: the control-plane volumes; k8s: k8s/control-plane)')
  .option('--nodes <ids>', 'node ids, comma-separated (compose: a,b,c)')
  .option('--statefulset <name>', 'Kubernetes: the node StatefulSet; its pods NAME-0 ... NAME-(N-1) are the node ids')
  .option('--replicas <n>', 'Kubernetes: the StatefulSet\'s replica count', intOption('--replicas', 1, 1000))
  .option('--pki <dir>', 'compose: the peer PKI (ca.pem, nats-server.*, redis-server.*): NATS and Redis over TLS')
  .option('--owners <services:redis>', 'compose, run as root: uid:gid of the services and of redis-server, owners of their files (e.g. 1000:1000,999:1000)')
  .action(async (o: { target: 'compose' | 'k8s'; out: string; nodes?: string; statefulset?: string; replicas?: number; pki?: string; owners?: string }) => {
    if (!!o.statefulset !== (o.replicas !== undefined)) throw new Error('--statefulset and --replicas go together');
    if (!o.nodes === !o.statefulset) throw new Error('pass either --nodes or --statefulset NAME --replicas N');
    const nodes = o.nodes ? o.nodes.split(',').map((n) => n.trim()).filter(Boolean) : Array.from({ length: o.replicas! }, (_, i) => `${o.statefulset}-${i}`);
    const { NodeIdSchema } = await import('@swarmshare/common/schemas');
    for (const n of nodes) if (!NodeIdSchema.safeParse(n).success) throw new Error(`--nodes: "${n.slice(0, 80)}" is not a node id`);
    const { parseOwner, renderControlPlane } = await import('./commands/control-plane');
    const [services, redis] = o.owners?.split(',') ?? [];
    if (o.owners && !redis) throw new Error(`--owners ${o.owners}: expected <services uid:gid>,<redis uid:gid>`);
    const owners = o.owners ? { services: parseOwner('--owners', services), redis: parseOwner('--owners', redis) } : undefined;
    for (const line of renderControlPlane({ target: o.target, out: o.out, nodes, pki: o.pki, owners })) process.stdout.write(`${line}\n`);
  });

program.parseAsync().catch((e: unknown) => {
  // A peer's refusal (a PeerRequestError, e.g. NO_SPACE from the node's store during share) carries
  // its code like a SwarmError; checked by shape so the peer protocol is not loaded just for this.
  const raw = e instanceof Error ? (e as Error & { code?: unknown }).code : undefined;
  const code = e instanceof SwarmError ? e.code : isErrorCode(raw) ? raw : undefined;
  const msg = code !== undefined ? `${code}: ${(e as Error).message}` : e instanceof Error ? e.message : String(e);
  process.stderr.write(`swarmshare: ${msg}\n`);
  // One exit status per class of error, so scripts can act on it (docs/cli.md, "Exit status").
  process.exit(isErrorCode(code) ? exitCodeFor(code) : EXIT_CODES.other);
});
