import { GatewayInfoSchema, gatewaySubjects } from '@swarmshare/common';
import type { CliContext } from '../context';
import { table } from '../table';

/** `swarmshare peers --node ID`: the node's overlay neighbours (trackerless discovery), from its gateway. */
export async function listNeighbours(ctx: CliContext, node: string): Promise<void> {
  const info = await ctx.rpc.request(gatewaySubjects(node).info, {}, GatewayInfoSchema);
  const ns = info.neighbours ?? [];
  if (ns.length === 0) return ctx.out(`node ${node} (${info.address}) has no overlay neighbours: set BOOTSTRAP_PEERS, or fetch with --peers host:port`);
  ctx.out(table(['NEIGHBOUR', 'ADDRESS', 'DIALLED BY'], ns.map((n) => [n.nodeId, n.address, n.direction === 'out' ? node : n.nodeId])));
}
