import { FileRecordSchema, formatBytes, PeerRecordSchema, TrackerSubjects } from '@swarmshare/common';
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
        String(f.seeders.length),
        String(f.downloads),
      ]),
    ),
  );
}

/** `swarmshare peers`: live peers with capacity and free space. */
export async function listPeers(ctx: CliContext): Promise<void> {
  const peers = await ctx.rpc.request(TrackerSubjects.listPeers, {}, z.array(PeerRecordSchema));
  if (peers.length === 0) return ctx.out('no live peers: is a swarm running (`swarmshare up`)?');
  ctx.out(
    table(
      ['NODE', 'ADDRESS', 'CAPACITY', 'FREE', 'FILES', 'LAST SEEN'],
      peers.map((p) => [p.nodeId, p.address, formatBytes(p.capacity), formatBytes(p.free), String(p.files), `${Math.round((Date.now() - p.lastSeen) / 1000)}s ago`]),
    ),
  );
}
