import {
  type FileRecord,
  FileRecordSchema,
  formatBytes,
  formatDuration,
  PeerRecordSchema,
  ReservationSchema,
  storeSubjects,
  TFileDefSchema,
  TrackerSubjects,
} from '@swarmshare/common/contracts';
import { z } from 'zod';
import type { CliContext } from '../context';
import { table } from '../table';

/** Options of the listing commands. */
export interface ViewOptions {
  /** One JSON document on stdout instead of the table (docs/cli.md). */
  json?: boolean;
}

/** One holder of a file in `ls --json`: whole or its share, and whether it pinned the file (null: the node did not answer). */
export interface HolderListing {
  nodeId: string;
  holds: 'complete' | 'partial';
  pinned: boolean | null;
}

/** `ls --json`: one entry per file (stable: fields are only ever added). */
export type FileListing = Omit<FileRecord, 'expiresAt' | 'pinnedBy' | 'pinsUnknown'> & {
  partial: NonNullable<FileRecord['partial']>;
  /** `share --ttl`: when it expires (ms since the epoch), null when it never does. */
  expiresAt: number | null;
  expired: boolean;
  holders: HolderListing[];
};

/** `peers --json`: one entry per live peer (stable: fields are only ever added). */
export interface PeerListing {
  nodeId: string;
  address: string;
  capacity: number;
  free: number;
  reserved: number;
  lastSeen: number;
  files: Array<{ fileId: string; name: string; holds: 'complete' | 'partial' | 'downloading' }>;
}

const ids = (refs: FileRecord['seeders'] | undefined) => (refs ?? []).map((s) => s.nodeId).join(',') || '-';
/** A holder that does not say what it pinned within this long is shown as unknown (`?`). */
const PIN_QUERY_TIMEOUT_MS = 3000;
/** Holders asked at once: a large swarm is asked in waves, not all together. */
const PIN_QUERIES_IN_FLIGHT = 16;

/** The files each holder pinned, from its store (one request per holder); null for a node that did not answer. */
async function pinsByNode(ctx: CliContext, nodeIds: Iterable<string>): Promise<Map<string, Set<string> | null>> {
  const out = new Map<string, Set<string> | null>();
  const nodes = [...new Set(nodeIds)];
  for (let i = 0; i < nodes.length; i += PIN_QUERIES_IN_FLIGHT) {
    await Promise.all(
      nodes.slice(i, i + PIN_QUERIES_IN_FLIGHT).map(async (n) => {
        const files = await ctx.rpc.request(storeSubjects(n).files, {}, z.array(TFileDefSchema), PIN_QUERY_TIMEOUT_MS).catch(() => null);
        out.set(n, files && new Set(files.filter((f) => f.pinned).map((f) => f.fileId)));
      }),
    );
  }
  return out;
}

/**
 * Holders whose pins the tracker does not know: those whose gateway does not announce them (older
 * gateways), or every holder when the tracker predates `pinnedBy`. Only these are asked over NATS.
 */
function holdersToAsk(f: FileRecord): string[] {
  if (f.pinnedBy === undefined) return [...f.seeders, ...(f.partial ?? [])].map((h) => h.nodeId);
  return f.pinsUnknown ?? [];
}

/** `ls`'s EXPIRES column: how long is left, `expired`, or `-` (no TTL). */
function expiryCell(f: FileListing, now: number): string {
  if (f.expiresAt === null) return '-';
  return f.expired ? 'expired' : `in ${formatDuration(f.expiresAt - now)}`;
}

/** `swarmshare ls`: the tracker's files with expiry, holders (complete or partial, pinned), leechers, replicas and downloads. */
export async function listFiles(ctx: CliContext, o: ViewOptions = {}): Promise<void> {
  const files = await ctx.rpc.request(TrackerSubjects.listFiles, {}, z.array(FileRecordSchema));
  // Pins come with the tracker's records (each holder announces its own); a holder asked is one that does not.
  const asked = await pinsByNode(ctx, files.flatMap(holdersToAsk));
  const now = Date.now();
  const listing = files.map(({ pinnedBy, pinsUnknown, ...f }): FileListing => {
    const told = new Set(pinnedBy ?? []);
    const ask = new Set(holdersToAsk({ ...f, pinnedBy, pinsUnknown }));
    const holder = (holds: HolderListing['holds']) => (h: { nodeId: string }): HolderListing => {
      if (!ask.has(h.nodeId)) return { nodeId: h.nodeId, holds, pinned: told.has(h.nodeId) };
      const pinned = asked.get(h.nodeId);
      return { nodeId: h.nodeId, holds, pinned: pinned ? pinned.has(f.fileId) : null };
    };
    return {
      ...f,
      partial: f.partial ?? [],
      expiresAt: f.expiresAt ?? null,
      expired: f.expiresAt !== undefined && f.expiresAt <= now,
      holders: [...f.seeders.map(holder('complete')), ...(f.partial ?? []).map(holder('partial'))],
    };
  });
  if (o.json) return ctx.out(JSON.stringify(listing));
  if (files.length === 0) return ctx.out('no files registered yet: share one with `swarmshare share FILE`');
  ctx.out(
    table(
      ['ID', 'NAME', 'SIZE', 'CHUNKS', 'SEEDERS', 'PARTIAL', 'LEECHERS', 'REPLICAS', 'DOWNLOADS', 'EXPIRES', 'PINNED'],
      listing.map((f) => [
        f.fileId.slice(0, 16),
        f.name,
        formatBytes(f.size),
        String(f.chunkCount),
        // Holders of the whole file, then replica holders with only their share: they serve it, but are not seeders.
        ids(f.seeders),
        ids(f.partial),
        ids(f.leechers),
        // Copies of each chunk a replicated upload placed; a plain share has one holder's copy.
        f.replicas !== undefined ? `${f.replicas}x` : '-',
        String(f.downloads),
        expiryCell(f, now),
        // Holders that pinned it; `node?` for a holder that did not answer.
        f.holders.filter((h) => h.pinned !== false).map((h) => (h.pinned ? h.nodeId : `${h.nodeId}?`)).join(',') || '-',
      ]),
    ),
  );
}

/** `swarmshare peers`: live peers with capacity, free space, reservations and the files they hold. */
export async function listPeers(ctx: CliContext, o: ViewOptions = {}): Promise<void> {
  const [peers, files, reservations] = await Promise.all([
    ctx.rpc.request(TrackerSubjects.listPeers, {}, z.array(PeerRecordSchema)),
    ctx.rpc.request(TrackerSubjects.listFiles, {}, z.array(FileRecordSchema)),
    ctx.rpc.request(TrackerSubjects.listReservations, {}, z.array(ReservationSchema)),
  ]);
  const holds = new Map<string, PeerListing['files']>();
  const add = (nodeId: string, f: FileRecord, h: PeerListing['files'][number]['holds']) => holds.set(nodeId, [...(holds.get(nodeId) ?? []), { fileId: f.fileId, name: f.name, holds: h }]);
  for (const f of files) {
    for (const s of f.seeders) add(s.nodeId, f, 'complete');
    for (const s of f.partial ?? []) add(s.nodeId, f, 'partial');
    for (const l of f.leechers) add(l.nodeId, f, 'downloading');
  }
  const reserved = new Map<string, number>();
  for (const r of reservations) reserved.set(r.nodeId, (reserved.get(r.nodeId) ?? 0) + r.bytes);
  const listing = peers.map(
    (p): PeerListing => ({ nodeId: p.nodeId, address: p.address, capacity: p.capacity, free: p.free, reserved: reserved.get(p.nodeId) ?? 0, lastSeen: p.lastSeen, files: holds.get(p.nodeId) ?? [] }),
  );
  if (o.json) return ctx.out(JSON.stringify(listing));
  if (peers.length === 0) return ctx.out('no live peers: is a swarm running (`swarmshare up`)?');
  ctx.out(
    table(
      ['NODE', 'ADDRESS', 'CAPACITY', 'FREE', 'RESERVED', 'LAST SEEN', 'FILES'],
      listing.map((p) => [
        p.nodeId,
        p.address,
        formatBytes(p.capacity),
        formatBytes(p.free),
        p.reserved > 0 ? formatBytes(p.reserved) : '-',
        `${Math.round((Date.now() - p.lastSeen) / 1000)}s ago`,
        p.files.map((f) => (f.holds === 'complete' ? f.name : `${f.name} (${f.holds})`)).join(', ') || '-',
      ]),
    ),
  );
}
