import { GatewayInfoSchema, gatewaySubjects } from '@swarmshare/common/contracts';
import type { CliContext } from '../context';
import { table } from '../table';
import { gatewayAddress } from '../node-address';
import type { ViewOptions } from './views';

/** `swarmshare peers --node ID`: the node's overlay neighbours (trackerless discovery), from its gateway. */
export async function listNeighbours(ctx: CliContext, node: string, o: ViewOptions = {}): Promise<void> {
  await gatewayAddress(ctx, node);
  const info = await ctx.rpc.request(gatewaySubjects(node).info, {}, GatewayInfoSchema);
  const ns = info.neighbours ?? [];
  // `peers --node X --json`: {nodeId, address, neighbours: [{nodeId, address, direction}]} (stable: fields are only ever added).
  if (o.json) return ctx.out(JSON.stringify({ nodeId: info.nodeId, address: info.address, neighbours: ns }));
  if (ns.length === 0) return ctx.out(`node ${node} (${info.address}) has no overlay neighbours: set BOOTSTRAP_PEERS, or fetch with --peers host:port`);
  ctx.out(table(['NEIGHBOUR', 'ADDRESS', 'DIALLED BY'], ns.map((n) => [n.nodeId, n.address, n.direction === 'out' ? node : n.nodeId])));
}
