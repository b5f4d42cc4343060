import { DeleteFileReplySchema, formatBytes, SwarmError, TrackerSubjects } from '@swarmshare/common/contracts';
import type { CliContext } from '../context';
import { resolveFileId } from '../file-ids';

export interface RmOptions {
  fileId: string;
  node?: string;
  everywhere?: boolean;
  json?: boolean;
}

/**
 * `swarmshare rm ID (--node N | --everywhere)`: delete a file from one node, or from every holder and
 * the tracker's record. The tracker coordinates (its view changes at once); a holder that is down
 * deletes its copy when it announces again.
 */
export async function rm(ctx: CliContext, o: RmOptions): Promise<void> {
  if ((o.node === undefined) === (o.everywhere !== true)) {
    throw new SwarmError('BAD_REQUEST', 'say where to delete: --node ID (one node) or --everywhere (every holder and the tracker\'s record)');
  }
  const fileId = await resolveFileId(ctx, o.fileId);
  const reply = await ctx.rpc.request(
    TrackerSubjects.deleteFile,
    o.everywhere ? { fileId, everywhere: true } : { fileId, nodeId: o.node },
    DeleteFileReplySchema,
  );
  if (o.json) return ctx.out(JSON.stringify(reply));
  for (const n of reply.nodes) {
    if (n.error !== undefined) ctx.info(`node ${n.nodeId}: not reached (${n.error})`);
    else if (!n.deleted) ctx.info(`node ${n.nodeId}: did not hold ${fileId.slice(0, 16)}`);
    else ctx.info(`node ${n.nodeId}: deleted, ${formatBytes(n.bytes)} freed${n.cancelled > 0 ? `, ${n.cancelled} transfer(s) cancelled` : ''}`);
  }
  if (reply.everywhere) ctx.info(`${fileId.slice(0, 16)} is no longer registered; nodes that were not reached delete it when they announce again`);
  ctx.out(fileId);
}
