import { FileRecordSchema, formatBytes, PeerRecordSchema, ReservationSchema, TrackerSubjects } from '@swarmshare/common';
import { z } from 'zod';
import type { CliContext } from '../context';
import { table } from '../table';

/** `swarmshare ls`: the tracker's files with seeders, leechers, replicas and downloads. */
export async function listFiles(ctx: CliContext): Promise<void> {
  const files = await ctx.rpc.request(TrackerSubjects.listFiles, {}, z.array(FileRecordSchema));
  if (files.length === 0) return ctx.out('no files registered yet: share one with `swarmshare share FILE`');
  ctx.out(
    table(
      ['ID', 'NAME', 'SIZE', 'CHUNKS', 'SEEDERS', 'LEECHERS', 'REPLICAS', 'DOWNLOADS'],
      files.map((f) => [
        f.fileId.slice(0, 16),
        f.name,
        formatBytes(f.size),
        String(f.chunkCount),
        f.seeders.map((s) => s.nodeId).join(',') || '-',
        f.leechers.map((s) => s.nodeId).join(',') || '-',
        // Copies of each chunk a replicated upload placed; a plain share has one holder's copy.
        f.replicas !== undefined ? `${f.replicas}x` : '-',
        String(f.downloads),
      ]),
    ),
  );
}

/** `swarmshare peers`: live peers with capacity, free space, reservations and the files they hold. */
export async function listPeers(ctx: CliContext): Promise<void> {
  const [peers, files, reservations] = await Promise.all([
    ctx.rpc.request(TrackerSubjects.listPeers, {}, z.array(PeerRecordSchema)),
    ctx.rpc.request(TrackerSubjects.listFiles, {}, z.array(FileRecordSchema)),
    ctx.rpc.request(TrackerSubjects.listReservations, {}, z.array(ReservationSchema)),
  ]);
  if (peers.length === 0) return ctx.out('no live peers: is a swarm running (`swarmshare up`)?');
  const holds = new Map<string, string[]>();
  for (const f of files) {
    for (const s of f.seeders) holds.set(s.nodeId, [...(holds.get(s.nodeId) ?? []), f.name]);
    for (const l of f.leechers) holds.set(l.nodeId, [...(holds.get(l.nodeId) ?? []), `${f.name} (downloading)`]);
  }
  const reserved = new Map<string, number>();
  for (const r of reservations) reserved.set(r.nodeId, (reserved.get(r.nodeId) ?? 0) + r.bytes);
  ctx.out(
    table(
      ['NODE', 'ADDRESS', 'CAPACITY', 'FREE', 'RESERVED', 'LAST SEEN', 'FILES'],
      peers.map((p) => [
        p.nodeId,
        p.address,
        formatBytes(p.capacity),
        formatBytes(p.free),
        reserved.has(p.nodeId) ? formatBytes(reserved.get(p.nodeId)!) : '-',
        `${Math.round((Date.now() - p.lastSeen) / 1000)}s ago`,
        holds.get(p.nodeId)?.join(', ') || '-',
      ]),
    ),
  );
}
