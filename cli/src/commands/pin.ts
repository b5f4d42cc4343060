import { nodeAdminSubjects, PinReplySchema } from '@swarmshare/common/contracts';
import type { CliContext } from '../context';
import { resolveFileId } from '../file-ids';

export interface PinOptions {
  fileId: string;
  node: string;
  /** true: `pin`, false: `unpin`. */
  pinned: boolean;
  json?: boolean;
}

/**
 * `swarmshare pin|unpin ID --node N`: set or clear the file's pin on that node (its admin subject;
 * NOT_FOUND when the node does not hold the file). Watermark GC never evicts a pinned file there;
 * its TTL still applies (docs/operations.md, "TTL and pins").
 */
export async function pin(ctx: CliContext, o: PinOptions): Promise<void> {
  const fileId = await resolveFileId(ctx, o.fileId);
  const s = nodeAdminSubjects(o.node);
  const reply = await ctx.rpc.request(o.pinned ? s.pin : s.unpin, { fileId }, PinReplySchema);
  if (o.json) return ctx.out(JSON.stringify(reply));
  ctx.info(reply.pinned ? `${fileId.slice(0, 16)} is pinned on node ${reply.nodeId}: its watermark GC keeps it` : `${fileId.slice(0, 16)} is no longer pinned on node ${reply.nodeId}`);
  ctx.out(fileId);
}
