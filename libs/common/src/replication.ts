import { z } from 'zod';
import { SwarmError } from './errors';
import { MAX_TTL_MS, MIN_TTL_MS } from './durations';
import { chunkLength } from './file-id';
import { FileIdSchema, NodeIdSchema, PeerAddressSchema, Sha256HexSchema } from './schemas';
import { formatBytes, parseSize } from './sizes';

/**
 * Replication (issue 3): the schemas of the tracker's candidate/reservation subjects and of the
 * gateway's replicate subject, and the pure placement logic shared by the CLI (to refuse an
 * allocation before any byte moves) and the seeder's gateway (to place, and to re-place the share
 * of a peer that died or refused). See docs/flows.md.
 */

export const UploadIdSchema = z.string().regex(/^[a-z0-9-]{8,64}$/, 'upload id must be 8-64 characters of a-z, 0-9 or "-"');

// ---- tracker: candidates and reservations ----
export const CandidatesRequestSchema = z.object({ exclude: z.array(NodeIdSchema).max(10_000).default([]) }).strict();
export const CandidateSchema = z.object({
  nodeId: NodeIdSchema,
  address: PeerAddressSchema,
  capacity: z.number().int().min(0),
  /** Free space from the node's latest announce. */
  free: z.number().int().min(0),
  /** Bytes reserved on it by uploads in progress. */
  reserved: z.number().int().min(0),
  /** free - reserved: what a new upload may still reserve there. */
  available: z.number().int().min(0),
});
export type Candidate = z.infer<typeof CandidateSchema>;

/** The receiving node sets the upload's reservation on itself to `bytes` (grow or shrink), atomically. */
export const ReserveRequestSchema = z
  .object({ uploadId: UploadIdSchema, nodeId: NodeIdSchema, bytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER) })
  .strict();
export type ReserveRequest = z.infer<typeof ReserveRequestSchema>;
export const ReservationSchema = z.object({ uploadId: UploadIdSchema, nodeId: NodeIdSchema, bytes: z.number().int().min(0), expiresAt: z.number().int() });
export type Reservation = z.infer<typeof ReservationSchema>;
export const ReleaseRequestSchema = z.object({ uploadId: UploadIdSchema }).strict();
export const ReleaseReplySchema = z.object({ uploadId: UploadIdSchema, released: z.number().int().min(0) });

/** A holder's ack to the tracker: downloader `nodeId` got `bytes` (`chunks` chunks) of the file from `holder`. */
export const DownloadAckedSchema = z
  .object({ fileId: FileIdSchema, nodeId: NodeIdSchema, holder: NodeIdSchema, bytes: z.number().int().min(0), chunks: z.number().int().min(0) })
  .strict();
export type DownloadAcked = z.infer<typeof DownloadAckedSchema>;
export const DownloadAckRecordSchema = z.object({ nodeId: NodeIdSchema, holder: NodeIdSchema, bytes: z.number().int().min(0) });

// ---- gateway: replicate ----
export const AllocationEntrySchema = z.object({ nodeId: NodeIdSchema, bytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER) });
export type AllocationEntry = z.infer<typeof AllocationEntrySchema>;
export const MAX_REPLICAS = 16;
export const ReplicateRequestSchema = z
  .object({
    fileId: FileIdSchema,
    /** SHA-256 of the whole content (the CLI computed it while hashing), registered with the file. */
    hash: Sha256HexSchema,
    /** Copies of every chunk, each on a different peer. */
    replicas: z.number().int().min(1).max(MAX_REPLICAS),
    /** How much each chosen peer may take (its budget); the gateway places chunks within it. */
    allocation: z.array(AllocationEntrySchema).min(1).max(1000),
    /** Re-place a failed peer's share on other candidates with room (default true). */
    replace: z.boolean().default(true),
    /** `share --ttl`: registered with the file when the upload finishes (RegisterFile.ttlMs). */
    ttlMs: z.number().int().min(MIN_TTL_MS).max(MAX_TTL_MS).optional(),
  })
  .strict();
export type ReplicateRequest = z.input<typeof ReplicateRequestSchema>;
export const ReplicateStatusRequestSchema = z.object({ uploadId: UploadIdSchema }).strict();
export const ReplicateStateSchema = z.enum(['running', 'complete', 'failed']);
export const ReplicateStatusSchema = z.object({
  uploadId: UploadIdSchema,
  fileId: FileIdSchema,
  state: ReplicateStateSchema,
  replicas: z.number().int(),
  chunkCount: z.number().int().min(0),
  /** Acked copies so far, of chunkCount * replicas. */
  copiesAcked: z.number().int().min(0),
  copiesNeeded: z.number().int().min(0),
  bytesSent: z.number().int().min(0),
  /** Per peer: chunks acked, bytes acked, bytes reserved. */
  peers: z.array(
    z.object({
      nodeId: NodeIdSchema,
      chunks: z.number().int().min(0),
      bytes: z.number().int().min(0),
      reserved: z.number().int().min(0),
      state: z.enum(['active', 'dropped']),
      reason: z.string().optional(),
    }),
  ),
  error: z.string().optional(),
});
export type ReplicateStatus = z.infer<typeof ReplicateStatusSchema>;
export const ReplicateProgressEventSchema = ReplicateStatusSchema.extend({ nodeId: NodeIdSchema });

// ---- placement (pure) ----

export interface PlacementInput {
  /** Byte length of each chunk, in order. */
  chunkLengths: readonly number[];
  replicas: number;
  /** Budget of each peer (bytes it may take). */
  budgets: ReadonlyArray<{ nodeId: string; bytes: number }>;
  /** Copies that already exist: nodeId -> chunk indexes it holds (acked); they count and are not placed again. */
  existing?: ReadonlyMap<string, ReadonlySet<number>>;
}

export interface Placement {
  /** nodeId -> chunk indexes to push there (new copies only). */
  assign: Map<string, number[]>;
  /** nodeId -> bytes of the new copies. */
  bytes: Map<string, number>;
}

/**
 * Place `replicas` copies of every chunk on distinct peers within their budgets. Greedy: each copy
 * goes to the peer with the most budget left that does not hold the chunk yet, so the copies spread
 * over the peers with the most room (and evenly over equal ones). Throws NO_SPACE naming the first
 * chunk that cannot be placed. Deterministic (ties by node id).
 */
export function planPlacement(input: PlacementInput): Placement {
  const { chunkLengths, replicas } = input;
  if (!Number.isInteger(replicas) || replicas < 1) throw new SwarmError('BAD_REQUEST', `replicas must be a whole number >= 1, got ${replicas}`);
  const left = new Map<string, number>();
  for (const b of input.budgets) left.set(b.nodeId, (left.get(b.nodeId) ?? 0) + b.bytes);
  const nodes = [...left.keys()].sort();
  const assign = new Map<string, number[]>();
  const bytes = new Map<string, number>();
  for (let i = 0; i < chunkLengths.length; i++) {
    const len = chunkLengths[i];
    const holders = new Set<string>();
    for (const [n, set] of input.existing ?? []) if (set.has(i)) holders.add(n);
    let need = replicas - holders.size;
    while (need > 0) {
      let best: string | undefined;
      for (const n of nodes) {
        if (holders.has(n) || left.get(n)! < len) continue;
        if (best === undefined || left.get(n)! > left.get(best)!) best = n;
      }
      if (best === undefined) {
        throw new SwarmError('NO_SPACE', `chunk ${i} cannot get ${replicas} copies: only ${holders.size} peer(s) could take its ${formatBytes(len)}`);
      }
      holders.add(best);
      left.set(best, left.get(best)! - len);
      if (!assign.has(best)) assign.set(best, []);
      assign.get(best)!.push(i);
      bytes.set(best, (bytes.get(best) ?? 0) + len);
      need--;
    }
  }
  return { assign, bytes };
}

/**
 * The same placement with the chunks renumbered so that chunks placed on the same set of peers are
 * adjacent. planPlacement deals chunks out one by one (every other chunk to a peer, typically), and
 * a receiver allocates its share with one fallocate per run of adjacent chunks (sparse replicas,
 * issue 14): grouped, a share is a few runs. Only chunks of the full chunk length trade places
 * (a short last chunk keeps its peers), so every peer's bytes and every chunk's number of distinct
 * holders are unchanged.
 */
export function groupPlacement(assign: ReadonlyMap<string, readonly number[]>, chunkLengths: readonly number[]): Map<string, number[]> {
  const holders: string[][] = chunkLengths.map(() => []);
  for (const [n, idx] of assign) for (const i of idx) holders[i].push(n);
  const key = holders.map((h) => [...h].sort().join('\n'));
  const full = chunkLengths[0];
  const movable = chunkLengths.map((_, i) => i).filter((i) => chunkLengths[i] === full);
  const bySet = [...movable].sort((a, b) => (key[a] < key[b] ? -1 : key[a] > key[b] ? 1 : a - b));
  const out = new Map<string, number[]>([...assign.keys()].map((n) => [n, []]));
  // Slot movable[k] takes the holders of bySet[k]; the other chunks keep theirs.
  movable.forEach((slot, k) => {
    for (const n of holders[bySet[k]]) out.get(n)!.push(slot);
  });
  chunkLengths.forEach((len, i) => {
    if (len !== full) for (const n of holders[i]) out.get(n)!.push(i);
  });
  for (const idx of out.values()) idx.sort((a, b) => a - b);
  return out;
}

export function chunkLengthsOf(size: number, chunkSize: number): number[] {
  const n = size === 0 ? 0 : Math.ceil(size / chunkSize);
  return Array.from({ length: n }, (_, i) => chunkLength(size, chunkSize, i));
}

/** Most copies (up to `max`) of a file that fit in the budgets; 0 if not even one. */
export function maxReplicasThatFit(chunkLengths: readonly number[], budgets: PlacementInput['budgets'], max = MAX_REPLICAS): number {
  let best = 0;
  for (let r = 1; r <= Math.min(max, budgets.length); r++) {
    try {
      planPlacement({ chunkLengths, replicas: r, budgets });
      best = r;
    } catch {
      break;
    }
  }
  return best;
}

/**
 * Check an allocation before any byte moves; throws NO_SPACE with what would fit. Peers must be
 * candidates (live, with room), and no budget may exceed what the peer has available.
 */
export function checkAllocation(
  size: number,
  chunkSize: number,
  replicas: number,
  allocation: readonly AllocationEntry[],
  candidates: readonly Pick<Candidate, 'nodeId' | 'available'>[],
  opts: { clamp?: boolean } = {},
): Placement {
  const byId = new Map(candidates.map((c) => [c.nodeId, c]));
  if (opts.clamp) {
    // The seeder's node re-checks with fresh candidates: free space moves a little between the
    // CLI's look and this one, so a budget is cut to what the peer has now instead of refused.
    allocation = allocation.map((a) => ({ nodeId: a.nodeId, bytes: Math.min(a.bytes, byId.get(a.nodeId)?.available ?? a.bytes) }));
  }
  for (const a of allocation) {
    const c = byId.get(a.nodeId);
    if (!c) throw new SwarmError('BAD_REQUEST', `peer ${a.nodeId} is not a candidate (not live, or no free storage): \`swarmshare peers\` lists them`);
    if (a.bytes > c.available) throw new SwarmError('NO_SPACE', `peer ${a.nodeId} has ${formatBytes(c.available)} available, less than the ${formatBytes(a.bytes)} allocated to it`);
  }
  if (new Set(allocation.map((a) => a.nodeId)).size !== allocation.length) throw new SwarmError('BAD_REQUEST', 'a peer is named twice in the allocation');
  const lengths = chunkLengthsOf(size, chunkSize);
  try {
    return planPlacement({ chunkLengths: lengths, replicas, budgets: allocation });
  } catch (e) {
    if (!(e instanceof SwarmError) || e.code !== 'NO_SPACE') throw e;
    const total = allocation.reduce((n, a) => n + a.bytes, 0);
    const fits = maxReplicasThatFit(lengths, allocation);
    const allFits = maxReplicasThatFit(lengths, candidates.map((c) => ({ nodeId: c.nodeId, bytes: c.available })));
    const hint: string[] = [];
    hint.push(fits > 0 ? `this allocation holds at most ${fits} cop${fits === 1 ? 'y' : 'ies'}` : 'this allocation cannot hold even one copy');
    if (replicas > allocation.length) hint.push(`${replicas} copies need at least ${replicas} peers, the allocation names ${allocation.length}`);
    hint.push(allFits > 0 ? `all ${candidates.length} candidates together hold at most ${allFits} (e.g. --replicas ${Math.min(allFits, replicas)})` : `the candidates together cannot hold one copy`);
    throw new SwarmError(
      'NO_SPACE',
      `the allocation (${formatBytes(total)} over ${allocation.length} peer(s)) cannot hold ${replicas} cop${replicas === 1 ? 'y' : 'ies'} of ${formatBytes(size)} (${formatBytes(size * replicas)} needed, each copy of a chunk on a different peer): ${hint.join('; ')}`,
    );
  }
}

/** One `--alloc` entry as typed: a size, or `free` (up to the peer's free space, known only to the caller). */
export interface AllocationSpecEntry {
  nodeId: string;
  bytes: number | 'free';
}

/** `b=64MiB,c=free` -> allocation entries. Empty entries (`b=1MiB,,c=1MiB`) are refused, not skipped. */
export function parseAllocation(spec: string): AllocationSpecEntry[] {
  const all = spec.split(',').map((s) => s.trim());
  if (all.every((p) => p === '')) throw new SwarmError('BAD_REQUEST', '--alloc is empty: expected e.g. b=64MiB,c=32MiB');
  if (all.includes('')) throw new SwarmError('BAD_REQUEST', `--alloc "${spec}" has an empty entry: separate NODE=SIZE entries with single commas, e.g. b=64MiB,c=32MiB`);
  return all.map((p) => {
    const m = /^([^=]+)=(.+)$/.exec(p);
    if (!m) throw new SwarmError('BAD_REQUEST', `--alloc entry "${p}" is not NODE=SIZE (e.g. b=64MiB, or b=free for all of b's free space)`);
    const id = NodeIdSchema.safeParse(m[1].trim());
    if (!id.success) throw new SwarmError('BAD_REQUEST', `--alloc entry "${p}": ${id.error.issues[0].message}`);
    if (m[2].trim() === 'free') return { nodeId: id.data, bytes: 'free' as const };
    let bytes: number;
    try {
      bytes = parseSize(m[2].trim());
    } catch (e) {
      throw new SwarmError('BAD_REQUEST', `--alloc entry "${p}": ${(e as Error).message}`);
    }
    return { nodeId: id.data, bytes };
  });
}
