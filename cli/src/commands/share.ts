import { open, stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { z } from 'zod';
import {
  type AllocationEntry,
  type AllocationSpecEntry,
  type Candidate,
  chunkCount,
  chunkLength,
  CandidateSchema,
  checkAllocation,
  EventSubjects,
  MAX_REPLICAS,
  parseAllocation,
  ReplicateProgressEventSchema,
  type ReplicateStatus,
  ReplicateStatusSchema,
  FileRecordSchema,
  formatBytes,
  GatewayInfoSchema,
  gatewaySubjects,
  type Manifest,
  SwarmError,
  TrackerSubjects,
  NodeIdSchema,
  ChunkSizeSchema,
  parseOrThrow,
  PeerClient,
  PeerRecordSchema,
} from '@swarmshare/common';
import type { CliContext } from '../context';
import { hashFile } from '../manifest-builder';
import { progressBar } from '../progress';

export interface ShareOptions {
  file: string;
  node: string;
  chunkSize: number;
  name?: string;
  /** Replication: N copies of every chunk over the peers with the most free space. */
  replicas?: number;
  /** Replication: explicit sizes, e.g. `b=64MiB,c=32MiB` (with replicas: that many copies within them). */
  alloc?: string;
  /** Ask for the allocation (the CLI sets it in a terminal) when no flag gives it. */
  interactive?: boolean;
  /** How long to wait for the replicated upload to finish. */
  replicateTimeoutMs?: number;
  /** Print the summary as one JSON object (ShareSummary) on stdout instead of the file id. */
  json?: boolean;
}

/** `share --json`: the summary scripts read (stable: fields are only ever added; docs/cli.md). */
export interface ShareSummary {
  fileId: string;
  name: string;
  size: number;
  chunkSize: number;
  chunkCount: number;
  node: string;
  seconds: number;
  replication: { uploadId: string; replicas: number; peers: Array<{ nodeId: string; chunks: number; bytes: number; state: 'active' | 'dropped'; reason?: string }> } | null;
}

/** The replication choice: copies per chunk and how much each peer may take. */
interface ReplicationPlan {
  replicas: number;
  allocation: AllocationEntry[];
}

const STORES_IN_FLIGHT = 8;

/** Ask a node's gateway where it listens; a node that does not answer is not running. */
export async function gatewayAddress(ctx: CliContext, node: string): Promise<string> {
  parseOrThrow(NodeIdSchema, node, 'node id');
  try {
    return (await ctx.rpc.request(gatewaySubjects(node).info, {}, GatewayInfoSchema)).address;
  } catch (e) {
    if (e instanceof SwarmError && e.code === 'UNAVAILABLE') throw new SwarmError('UNAVAILABLE', `node ${node} does not answer: is it running? (\`swarmshare peers\` lists live nodes)`);
    throw e;
  }
}

/**
 * `swarmshare share FILE --node a`: hash the file, push its chunks into node a (which verifies each
 * one), then register it with the tracker. Returns the file id (also printed last on stdout).
 */
export async function share(ctx: CliContext, o: ShareOptions): Promise<{ fileId: string; manifest: Manifest; seconds: number; replication?: ReplicateStatus }> {
  const started = Date.now();
  parseOrThrow(ChunkSizeSchema, o.chunkSize, 'chunk size');
  const st = await stat(o.file).catch(() => {
    throw new SwarmError('NOT_FOUND', `${o.file} does not exist or cannot be read`);
  });
  if (!st.isFile()) throw new SwarmError('BAD_REQUEST', `${o.file} is not a regular file`);
  if (o.replicas !== undefined && (!Number.isInteger(o.replicas) || o.replicas < 1 || o.replicas > MAX_REPLICAS)) {
    throw new SwarmError('BAD_REQUEST', `--replicas must be a whole number from 1 to ${MAX_REPLICAS}`);
  }
  const alloc = o.alloc !== undefined ? parseAllocation(o.alloc) : undefined;
  const address = await gatewayAddress(ctx, o.node);
  const interactive = o.interactive === true && o.replicas === undefined && alloc === undefined;
  const replicated = o.replicas !== undefined || alloc !== undefined || interactive;

  // Replication: pick and check the allocation before any hashing or byte moves (step 2 of the
  // seed's upload): the file's size and chunk size are all the placement needs.
  let plan: ReplicationPlan | undefined;
  if (replicated) {
    const candidates = await ctx.rpc.request(TrackerSubjects.peerCandidates, { exclude: [o.node] }, z.array(CandidateSchema));
    ctx.info(candidatesTable(candidates));
    if (alloc) await checkAllocNodes(ctx, alloc, o.node, candidates);
    plan = alloc || o.replicas !== undefined ? choosePlan(o.replicas, alloc, candidates) : await askPlan(ctx, o.node, candidates);
    if (plan) {
      const placement = checkAllocation(st.size, o.chunkSize, plan.replicas, plan.allocation, candidates);
      ctx.info(
        `placing ${plan.replicas} cop${plan.replicas === 1 ? 'y' : 'ies'} of each of ${chunkCount(st.size, o.chunkSize)} chunks: ` +
          [...placement.bytes].map(([n, b]) => `${n} ${formatBytes(b)}`).join(', '),
      );
    }
  }

  const hashing = progressBar('hashing', st.size);
  const { manifest, contentHash } = await hashFile(o.file, o.chunkSize, o.name, (b) => hashing.update(b)).finally(() => hashing.stop());

  const peer = await PeerClient.connect(address, { tls: ctx.peerTls });
  const upload = progressBar(`to node ${o.node}`, manifest.size);
  const fh = await open(o.file, 'r');
  try {
    let sent = 0;
    const readChunk = async (index: number, length: number) => {
      const buf = Buffer.allocUnsafe(length);
      const { bytesRead } = await fh.read(buf, 0, length, index * manifest.chunkSize);
      if (bytesRead !== length) throw new SwarmError('BAD_LENGTH', `${o.file} changed while being shared`);
      return buf;
    };
    // Sharing again (e.g. now with replicas) pushes only what the node lacks: a present chunk would be CONFLICT.
    const held = await peer.have(manifest.fileId);
    const indexes = manifest.hashes.map((_, i) => i).filter((i) => held.chunkCount !== manifest.hashes.length || !held.bitfield.get(i));
    const todo = new Set(indexes);
    for (const i of manifest.hashes.keys()) if (!todo.has(i)) sent += chunkLength(manifest.size, manifest.chunkSize, i);
    await peer.offerAndStore(manifest, readChunk, { concurrency: STORES_IN_FLIGHT, indexes, onChunk: (_i, bytes) => upload.update((sent += bytes)) });
  } finally {
    upload.stop();
    await fh.close();
    await peer.close();
  }

  if (plan) {
    const status = await replicate(ctx, o, manifest, contentHash, plan);
    const seconds = (Date.now() - started) / 1000;
    for (const p of status.peers) {
      ctx.info(`  ${p.nodeId.padEnd(12)} ${String(p.chunks).padStart(6)} chunks  ${formatBytes(p.bytes).padStart(10)}${p.state === 'dropped' ? `  dropped: ${p.reason}` : ''}`);
    }
    ctx.info(
      `uploaded ${manifest.name} (${formatBytes(manifest.size)}, ${manifest.hashes.length} chunks) from node ${o.node}: every chunk acked on ${plan.replicas} peer(s), registered with the tracker, in ${seconds.toFixed(2)} s`,
    );
    printResult(ctx, o, manifest, seconds, status);
    return { fileId: manifest.fileId, manifest, seconds, replication: status };
  }

  await ctx.rpc.request(
    TrackerSubjects.registerFile,
    { fileId: manifest.fileId, name: manifest.name, size: manifest.size, chunkSize: manifest.chunkSize, chunkCount: manifest.hashes.length, hash: contentHash, nodeId: o.node },
    FileRecordSchema,
  );
  const seconds = (Date.now() - started) / 1000;
  ctx.info(`shared ${manifest.name} (${formatBytes(manifest.size)}, ${manifest.hashes.length} chunks) on node ${o.node} in ${seconds.toFixed(2)} s`);
  printResult(ctx, o, manifest, seconds);
  return { fileId: manifest.fileId, manifest, seconds };
}

/** The last line on stdout: the file id, or with --json the whole summary. */
function printResult(ctx: CliContext, o: ShareOptions, manifest: Manifest, seconds: number, status?: ReplicateStatus): void {
  if (!o.json) return ctx.out(manifest.fileId);
  const summary: ShareSummary = {
    fileId: manifest.fileId,
    name: manifest.name,
    size: manifest.size,
    chunkSize: manifest.chunkSize,
    chunkCount: manifest.hashes.length,
    node: o.node,
    seconds,
    replication: status
      ? { uploadId: status.uploadId, replicas: status.replicas, peers: status.peers.map((p) => ({ nodeId: p.nodeId, chunks: p.chunks, bytes: p.bytes, state: p.state, ...(p.reason ? { reason: p.reason } : {}) })) }
      : null,
  };
  ctx.out(JSON.stringify(summary));
}

function candidatesTable(candidates: Candidate[]): string {
  if (candidates.length === 0) return 'candidate peers: none (no other live peer has free storage)';
  const rows = candidates.map((c) => `  ${c.nodeId.padEnd(12)} ${formatBytes(c.available).padStart(10)} free  ${c.address}${c.reserved > 0 ? `  (${formatBytes(c.reserved)} reserved by other uploads)` : ''}`);
  return ['candidate peers (most free space first):', ...rows].join('\n');
}

/**
 * Every --alloc node, checked before anything is hashed: not the sharing node itself, a live peer,
 * and one with free storage. Says which of these it is not.
 */
async function checkAllocNodes(ctx: CliContext, alloc: AllocationSpecEntry[], source: string, candidates: Candidate[]): Promise<void> {
  const live = new Set((await ctx.rpc.request(TrackerSubjects.listPeers, {}, z.array(PeerRecordSchema))).map((p) => p.nodeId));
  for (const a of alloc) {
    if (a.nodeId === source) throw new SwarmError('BAD_REQUEST', `--alloc names ${source}, the node that shares the file (--node ${source}): it keeps the original; allocate copies on other peers`);
    if (candidates.some((c) => c.nodeId === a.nodeId)) continue;
    if (live.has(a.nodeId)) throw new SwarmError('NO_SPACE', `--alloc names ${a.nodeId}, which has no free storage left (\`swarmshare peers\` shows free space)`);
    throw new SwarmError('UNAVAILABLE', `--alloc names ${a.nodeId}, which is not a live peer (\`swarmshare peers\` lists them)`);
  }
}

/** --alloc entries with `free` resolved to the peer's available space (checked by checkAllocNodes). */
function resolveAlloc(alloc: AllocationSpecEntry[], candidates: Candidate[]): AllocationEntry[] {
  return alloc.map((a) => ({ nodeId: a.nodeId, bytes: a.bytes === 'free' ? (candidates.find((c) => c.nodeId === a.nodeId)?.available ?? 0) : a.bytes }));
}

/** From flags: --replicas N over every candidate (most room first), or the --alloc sizes. */
function choosePlan(replicas: number | undefined, alloc: AllocationSpecEntry[] | undefined, candidates: Candidate[]): ReplicationPlan {
  if (alloc) return { replicas: replicas ?? 1, allocation: resolveAlloc(alloc, candidates) };
  if (candidates.length < replicas!) {
    throw new SwarmError('NO_SPACE', `--replicas ${replicas} needs ${replicas} other peers with free storage; there ${candidates.length === 1 ? 'is' : 'are'} ${candidates.length}${candidates.length > 0 ? ` (--replicas ${candidates.length} would need each to hold a copy)` : ''}`);
  }
  return { replicas: replicas!, allocation: candidates.map((c) => ({ nodeId: c.nodeId, bytes: c.available })) };
}

/** In a terminal: show the candidates (done by the caller) and ask. Empty answer: no replication. */
async function askPlan(ctx: CliContext, source: string, candidates: Candidate[]): Promise<ReplicationPlan | undefined> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  const prompt = () => process.stderr.write('allocation: a number of copies (e.g. 2), sizes (e.g. b=64MiB,c=32MiB), or empty to keep the file on its node only: ');
  try {
    prompt();
    // The async iterator queues lines, so answers typed ahead are not lost between prompts.
    for await (const line of rl) {
      const answer = line.trim();
      if (answer === '') return undefined;
      try {
        if (/^\d+$/.test(answer)) return choosePlan(Number(answer), undefined, candidates);
        const alloc = parseAllocation(answer);
        await checkAllocNodes(ctx, alloc, source, candidates);
        return choosePlan(undefined, alloc, candidates);
      } catch (e) {
        ctx.info(`  ${(e as Error).message}`);
        prompt();
      }
    }
    throw new SwarmError('BAD_REQUEST', 'no allocation given: the input ended');
  } finally {
    rl.close();
  }
}

/** Ask the seeder's node to push the copies and register the file; follow its progress. */
async function replicate(ctx: CliContext, o: ShareOptions, manifest: Manifest, hash: string, plan: ReplicationPlan): Promise<ReplicateStatus> {
  const subjects = gatewaySubjects(o.node);
  const first = await ctx.rpc.request(subjects.replicate, { fileId: manifest.fileId, hash, replicas: plan.replicas, allocation: plan.allocation }, ReplicateStatusSchema);
  ctx.info(`upload ${first.uploadId}: node ${o.node} pushes the copies`);
  const total = manifest.size * plan.replicas;
  const bar = progressBar('replicas', total);
  const deadline = Date.now() + (o.replicateTimeoutMs ?? 3_600_000);
  try {
    const status = await new Promise<ReplicateStatus>((resolve, reject) => {
      let finished = false;
      const finish = (s: ReplicateStatus) => {
        if (finished) return;
        bar.update(Math.min(total, s.bytesSent));
        if (s.state === 'running' && Date.now() < deadline) return;
        finished = true;
        sub.unsubscribe();
        clearInterval(poll);
        if (s.state === 'running') reject(new SwarmError('TIMEOUT', `the replicated upload ${s.uploadId} did not finish in time; it goes on on node ${o.node}`));
        else resolve(s);
      };
      const sub = ctx.rpc.subscribe(EventSubjects.replicateProgress, ReplicateProgressEventSchema, (e) => {
        if (e.uploadId === first.uploadId) finish(e);
      });
      // Events may be lost: poll the status too.
      const poll = setInterval(() => {
        ctx.rpc.request(subjects.replicateStatus, { uploadId: first.uploadId }, ReplicateStatusSchema).then(finish, (e) => {
          if (!(e instanceof SwarmError && e.code === 'TIMEOUT')) {
            finished = true;
            sub.unsubscribe();
            clearInterval(poll);
            reject(e);
          }
        });
      }, 1000);
      finish(first);
    });
    if (status.state === 'failed') throw new SwarmError('UNAVAILABLE', `replicated upload failed: ${status.error ?? 'unknown reason'}`);
    return status;
  } finally {
    bar.stop();
  }
}
