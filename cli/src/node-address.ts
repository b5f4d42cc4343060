import { GatewayInfoSchema, gatewaySubjects, NodeIdSchema, parseOrThrow, SwarmError } from '@swarmshare/common/contracts';
import type { CliContext } from './context';

/** Ask a node's gateway where it listens; a node that does not answer is not running. */
export async function gatewayAddress(ctx: CliContext, node: string): Promise<string> {
  parseOrThrow(NodeIdSchema, node, 'node id');
  try {
    return (await ctx.rpc.request(gatewaySubjects(node).info, {}, GatewayInfoSchema)).address;
  } catch (e) {
    if (e instanceof SwarmError && e.code === 'UNAVAILABLE') throw new SwarmError('UNAVAILABLE', `node ${node} does not answer: is it running? (\`swarmshare peers\` lists live nodes)`);
    throw e;
  }
}
