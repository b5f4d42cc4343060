import { type FileRecord, FileRecordSchema, formatBytes, PeerRecordSchema, ReservationSchema, TrackerSubjects } from '@swarmshare/common/contracts';
import { z } from 'zod';
import type { CliContext } from '../context';
import { table } from '../table';

/** Options of the listing commands. */
export interface ViewOptions {
  /** One JSON document on stdout instead of the table (docs/cli.md). */
  json?: boolean;
}

/** `ls --json`: one entry per file (stable: fields are only ever added). */
export type FileListing = FileRecord & { partial: NonNullable<FileRecord['partial']> };

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

/** `swarmshare ls`: the tracker's files with seeders (whole file), partial holders, leechers, replicas and downloads. */
export async function listFiles(ctx: CliContext, o: ViewOptions = {}): Promise<void> {
  const files = await ctx.rpc.request(TrackerSubjects.listFiles, {}, z.array(FileRecordSchema));
  if (o.json) return ctx.out(JSON.stringify(files.map((f): FileListing => ({ ...f, partial: f.partial ?? [] }))));
  if (files.length === 0) return ctx.out('no files registered yet: share one with `swarmshare share FILE`');
  ctx.out(
    table(
      ['ID', 'NAME', 'SIZE', 'CHUNKS', 'SEEDERS', 'PARTIAL', 'LEECHERS', 'REPLICAS', 'DOWNLOADS'],
      files.map((f) => [
        f.fileId.slice(0, 16),
        f.name,
        formatBytes(f.size),
        String(f.chunkCount),
        ids(f.seeders),
        // Replica holders with only their share of the file: they serve it, but are not seeders.
        ids(f.partial),
        ids(f.leechers),
        // Copies of each chunk a replicated upload placed; a plain share has one holder's copy.
        f.replicas !== undefined ? `${f.replicas}x` : '-',
        String(f.downloads),
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
