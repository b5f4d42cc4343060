import { constants } from 'node:fs';
import { copyFile, open, stat } from 'node:fs/promises';
import { basename } from 'node:path';
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
  MAX_TTL_MS,
  MIN_TTL_MS,
  parseAllocation,
  ReplicateProgressEventSchema,
  type ReplicateStatus,
  ReplicateStatusSchema,
  FileRecordSchema,
  formatBytes,
  gatewaySubjects,
  type Manifest,
  SwarmError,
  TrackerSubjects,
  ChunkSizeSchema,
  parseOrThrow,
  PeerRecordSchema,
  chunkSizeFor,
  type ImportBeginReply,
  type RegisterFile,
  ImportBeginReplySchema,
  ImportCommitReplySchema,
  MAX_WHOLE_MANIFEST_HASHES,
  storeManifest,
  storeSubjects,
} from '@swarmshare/common/contracts';
import { PeerClient } from '@swarmshare/common/protocol';
import type { CliContext } from '../context';
import { hashFile } from '../manifest-builder';
import { gatewayAddress } from '../node-address';
import { progressBar } from '../progress';

export interface ShareOptions {
  file: string;
  node: string;
  /** Unset: follows the file size (chunkSizeFor). */
  chunkSize?: number;
  name?: string;
  /** Replication: N copies of every chunk over the peers with the most free space. */
  replicas?: number;
  /** Replication: explicit sizes, e.g. `b=64MiB,c=32MiB` (with replicas: that many copies within them). */
  alloc?: string;
  /** Ask for the allocation (the CLI sets it in a terminal) when no flag gives it. */
  interactive?: boolean;
  /** How long to wait for the replicated upload to finish. */
  replicateTimeoutMs?: number;
  /** `--ttl`: the file expires this many ms after its registration (parsed by parseTtl). */
  ttl?: number;
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
  /** import: copied into the node's store in the kernel and hashed there; gateway: hashed here and pushed over TCP. */
  sharedBy: 'import' | 'gateway';
  replication: { uploadId: string; replicas: number; peers: Array<{ nodeId: string; chunks: number; bytes: number; state: 'active' | 'dropped'; reason?: string }> } | null;
}

/** The replication choice: copies per chunk and how much each peer may take. */
interface ReplicationPlan {
  replicas: number;
  allocation: AllocationEntry[];
}

const STORES_IN_FLIGHT = 8;

/**
 * `swarmshare share FILE --node a`: hash the file, push its chunks into node a (which verifies each
 * one), then register it with the tracker. Returns the file id (also printed last on stdout).
 */
export async function share(ctx: CliContext, o: ShareOptions): Promise<{ fileId: string; file: SharedFile; seconds: number; replication?: ReplicateStatus }> {
  const started = Date.now();
  if (o.chunkSize !== undefined) parseOrThrow(ChunkSizeSchema, o.chunkSize, 'chunk size');
  const st = await stat(o.file).catch(() => {
    throw new SwarmError('NOT_FOUND', `${o.file} does not exist or cannot be read`);
  });
  if (!st.isFile()) throw new SwarmError('BAD_REQUEST', `${o.file} is not a regular file`);
  const chunkSize = o.chunkSize ?? chunkSizeFor(st.size);
  if (o.replicas !== undefined && (!Number.isInteger(o.replicas) || o.replicas < 1 || o.replicas > MAX_REPLICAS)) {
    throw new SwarmError('BAD_REQUEST', `--replicas must be a whole number from 1 to ${MAX_REPLICAS}`);
  }
  ttlOf(o); // a bad TTL is refused before any byte moves
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
      const placement = checkAllocation(st.size, chunkSize, plan.replicas, plan.allocation, candidates);
      ctx.info(
        `placing ${plan.replicas} cop${plan.replicas === 1 ? 'y' : 'ies'} of each of ${chunkCount(st.size, chunkSize)} chunks: ` +
          [...placement.bytes].map(([n, b]) => `${n} ${formatBytes(b)}`).join(', '),
      );
    }
  }

  const shared = (await importLocally(ctx, o, st.size)) ?? (await pushThroughGateway(ctx, o, address));

  if (plan) {
    const status = await replicate(ctx, o, shared, plan);
    const seconds = (Date.now() - started) / 1000;
    for (const p of status.peers) {
      ctx.info(`  ${p.nodeId.padEnd(12)} ${String(p.chunks).padStart(6)} chunks  ${formatBytes(p.bytes).padStart(10)}${p.state === 'dropped' ? `  dropped: ${p.reason}` : ''}`);
    }
    ctx.info(
      `uploaded ${shared.name} (${formatBytes(shared.size)}, ${shared.chunkCount} chunks) from node ${o.node}: every chunk acked on ${plan.replicas} peer(s), registered with the tracker, in ${seconds.toFixed(2)} s`,
    );
    printResult(ctx, o, shared, seconds, status);
    return { fileId: shared.fileId, file: shared, seconds, replication: status };
  }

  await ctx.rpc.request(
    TrackerSubjects.registerFile,
    { fileId: shared.fileId, name: shared.name, size: shared.size, chunkSize: shared.chunkSize, chunkCount: shared.chunkCount, hash: shared.hash, nodeId: o.node, ...ttlOf(o) },
    FileRecordSchema,
  );
  const seconds = (Date.now() - started) / 1000;
  ctx.info(`shared ${shared.name} (${formatBytes(shared.size)}, ${shared.chunkCount} chunks of ${formatBytes(shared.chunkSize)}) on node ${o.node} by ${shared.via === 'import' ? 'an in-kernel copy' : 'its gateway'} in ${seconds.toFixed(2)} s`);
  printResult(ctx, o, shared, seconds);
  return { fileId: shared.fileId, file: shared, seconds };
}

/** The registration's TTL, when --ttl was given (checked again here: share() is also called as a function). */
function ttlOf(o: ShareOptions): { ttlMs?: number } {
  if (o.ttl === undefined) return {};
  if (!Number.isInteger(o.ttl) || o.ttl < MIN_TTL_MS || o.ttl > MAX_TTL_MS) throw new SwarmError('BAD_REQUEST', `--ttl must be from 1s to 3650d (got ${o.ttl} ms)`);
  return { ttlMs: o.ttl };
}

/** What share put on the node: the facts the tracker registers, and how its bytes got there. */
export type SharedFile = Omit<RegisterFile, 'nodeId' | 'holders' | 'replicas'> & {
  /** import: copied in the kernel into the store, which hashed it; gateway: hashed here, pushed over TCP. */
  via: 'import' | 'gateway';
};

/** Hashing the staged copy runs at no less than this (slow disk, busy machine): the commit's timeout follows the size. */
const SLOWEST_HASH_BYTES_PER_S = 8 * 1024 * 1024;

/**
 * Same host as the node's store: the store gives a staging file in its directory, this process fills
 * it by an in-kernel copy (reflink or copy_file_range) with its own permissions, and the store hashes
 * the bytes it now holds, once (FileImports). undefined: not possible here (a remote node, an older
 * store, another owner); the caller pushes through the gateway instead.
 */
async function importLocally(ctx: CliContext, o: ShareOptions, size: number): Promise<SharedFile | undefined> {
  const subjects = storeSubjects(o.node);
  let begin: ImportBeginReply;
  try {
    begin = await ctx.rpc.request(subjects.importBegin, { size }, ImportBeginReplySchema);
  } catch (e) {
    if (e instanceof SwarmError && e.code === 'NO_SPACE') throw e;
    return undefined;
  }
  const abort = () => ctx.rpc.request(subjects.importAbort, { importId: begin.importId }, z.unknown()).catch(() => undefined);
  const staged = await stat(begin.path).catch(() => undefined);
  if (!staged?.isFile() || staged.size !== 0) {
    await abort();
    return undefined;
  }
  try {
    await copyFile(o.file, begin.path, constants.COPYFILE_FICLONE);
  } catch (e) {
    await abort();
    if ((e as NodeJS.ErrnoException).code === 'ENOSPC') throw new SwarmError('NO_SPACE', `node ${o.node}'s disk is full: free space on it`);
    return undefined;
  }
  const name = o.name ?? basename(o.file);
  ctx.info(`copied ${o.file} into node ${o.node}'s store; the node hashes it`);
  const timeoutMs = 60_000 + Math.ceil((size / SLOWEST_HASH_BYTES_PER_S) * 1000);
  const r = await ctx.rpc.request(subjects.importCommit, { importId: begin.importId, name, ...(o.chunkSize ? { chunkSize: o.chunkSize } : {}) }, ImportCommitReplySchema, timeoutMs);
  const shared: SharedFile = { fileId: r.file.fileId, name: r.file.name, size: r.file.size, chunkSize: r.file.chunkSize, chunkCount: r.file.chunkCount, hash: r.hash, via: 'import' };
  if (r.file.chunksPresent < r.file.chunkCount) {
    // The node already had part of this file (an unfinished download): the missing chunks go in through its gateway, verified there.
    const manifest = await storeManifest(ctx.rpc, o.node, r.file.fileId, timeoutMs);
    await pushChunks(ctx, o, await gatewayAddress(ctx, o.node), manifest);
  }
  return shared;
}

/** Another host: hash the file here (chunk hashes and whole content in one read), then push its chunks to the node's gateway, which verifies each. */
async function pushThroughGateway(ctx: CliContext, o: ShareOptions, address: string): Promise<SharedFile> {
  const size = (await stat(o.file)).size;
  const chunkSize = o.chunkSize ?? chunkSizeFor(size);
  // A push's STORE_OFFER carries the manifest whole: say so before hashing, not after.
  const count = chunkCount(size, chunkSize);
  if (count > MAX_WHOLE_MANIFEST_HASHES) {
    throw new SwarmError(
      'TOO_LARGE',
      `${o.file} would have ${count} chunks; pushing through a gateway takes at most ${MAX_WHOLE_MANIFEST_HASHES}: share it on node ${o.node}'s host, or use --chunk-size ${Math.ceil(size / MAX_WHOLE_MANIFEST_HASHES / 65536) * 64}KiB or larger`,
    );
  }
  ctx.info(`hashing ${o.file}`);
  const { manifest, contentHash } = await hashFile(o.file, chunkSize, o.name);
  await pushChunks(ctx, o, address, manifest);
  return { fileId: manifest.fileId, name: manifest.name, size: manifest.size, chunkSize: manifest.chunkSize, chunkCount: manifest.hashes.length, hash: contentHash, via: 'gateway' };
}

/** Push the chunks the node lacks through its gateway, several in flight. */
async function pushChunks(ctx: CliContext, o: ShareOptions, address: string, manifest: Manifest): Promise<void> {
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
}

/** The last line on stdout: the file id, or with --json the whole summary. */
function printResult(ctx: CliContext, o: ShareOptions, shared: SharedFile, seconds: number, status?: ReplicateStatus): void {
  if (!o.json) return ctx.out(shared.fileId);
  const summary: ShareSummary = {
    fileId: shared.fileId,
    name: shared.name,
    size: shared.size,
    chunkSize: shared.chunkSize,
    chunkCount: shared.chunkCount,
    node: o.node,
    seconds,
    sharedBy: shared.via,
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
async function replicate(ctx: CliContext, o: ShareOptions, shared: SharedFile, plan: ReplicationPlan): Promise<ReplicateStatus> {
  const subjects = gatewaySubjects(o.node);
  const first = await ctx.rpc.request(subjects.replicate, { fileId: shared.fileId, hash: shared.hash, replicas: plan.replicas, allocation: plan.allocation, ...ttlOf(o) }, ReplicateStatusSchema);
  ctx.info(`upload ${first.uploadId}: node ${o.node} pushes the copies`);
  const total = shared.size * plan.replicas;
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
