import { GatewayInfoSchema, gatewaySubjects, NodeIdSchema, parseOrThrow, SwarmError } from '@swarmshare/common/contracts';
import type { CliContext } from './context';

/**
 * How long a node that does not answer is given before the CLI says it is not running. A node
 * reconnecting to NATS (after a nats-server restart, say) answers again within about half a second;
 * a command started at that moment waits for it instead of failing.
 */
export const NODE_ANSWER_GRACE_MS = 3000;
const RETRY_EVERY_MS = 250;

/** Ask a node's gateway where it listens; a node that does not answer within the grace is not running. */
export async function gatewayAddress(ctx: CliContext, node: string, graceMs = NODE_ANSWER_GRACE_MS): Promise<string> {
  parseOrThrow(NodeIdSchema, node, 'node id');
  const deadline = Date.now() + graceMs;
  for (;;) {
    try {
      return (await ctx.rpc.request(gatewaySubjects(node).info, {}, GatewayInfoSchema)).address;
    } catch (e) {
      if (!(e instanceof SwarmError && e.code === 'UNAVAILABLE')) throw e;
      if (Date.now() + RETRY_EVERY_MS > deadline) {
        throw new SwarmError('UNAVAILABLE', `node ${node} does not answer: is it running? (\`swarmshare peers\` lists live nodes)`);
      }
      await new Promise((r) => setTimeout(r, RETRY_EVERY_MS));
    }
  }
}
