import { formatBytes, GcReportSchema, nodeAdminSubjects } from '@swarmshare/common/contracts';
import type { CliContext } from '../context';

/** `swarmshare gc --node N`: run the node's garbage collection now and say what it evicted and kept. */
export async function gc(ctx: CliContext, o: { node: string; json?: boolean }): Promise<void> {
  const r = await ctx.rpc.request(nodeAdminSubjects(o.node).gc, {}, GcReportSchema);
  if (o.json) return ctx.out(JSON.stringify(r));
  const pct = (n: number) => (r.capacity > 0 ? `${Math.round((n / r.capacity) * 100)}%` : '-');
  ctx.out(`node ${r.nodeId}: ${formatBytes(r.usedBefore)} (${pct(r.usedBefore)}) -> ${formatBytes(r.usedAfter)} (${pct(r.usedAfter)}) of ${formatBytes(r.capacity)}; watermarks ${pct(r.high)} high, ${pct(r.low)} low`);
  for (const e of r.evicted) ctx.out(`evicted ${e.fileId.slice(0, 16)} ${e.name} (${formatBytes(e.bytes)})`);
  for (const k of r.kept) ctx.out(`kept    ${k.fileId.slice(0, 16)}: ${k.reason}`);
}
