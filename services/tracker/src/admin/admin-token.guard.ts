import { createHash, timingSafeEqual } from 'node:crypto';
import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { type Metadata, status } from '@grpc/grpc-js';
import { GrpcStatusError, SERVICE_CONFIG, SwarmError, type TrackerConfig } from '@swarmshare/common';

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * Every Admin call carries `authorization: Bearer <ADMIN_TOKEN>` in its metadata; anything else is
 * UNAUTHENTICATED before the handler runs. Compared in constant time (over digests, so the length
 * of the token does not leak either).
 */
@Injectable()
export class AdminTokenGuard implements CanActivate {
  private readonly expected: Buffer;

  constructor(@Inject(SERVICE_CONFIG) config: Pick<TrackerConfig, 'ADMIN_TOKEN'>) {
    // The config schema already refuses GRPC_PORT without ADMIN_TOKEN; this guards a wiring mistake.
    if (!config.ADMIN_TOKEN) throw new SwarmError('INTERNAL', 'the admin API is served without an ADMIN_TOKEN');
    this.expected = digest(config.ADMIN_TOKEN);
  }

  canActivate(context: ExecutionContext): boolean {
    const metadata = context.switchToRpc().getContext<Metadata>();
    const header = metadata?.get?.('authorization')?.[0];
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header.trim()) : null;
    if (!match) throw new GrpcStatusError(status.UNAUTHENTICATED, 'this call needs `authorization: Bearer <ADMIN_TOKEN>` in its metadata');
    if (!timingSafeEqual(digest(match[1]), this.expected)) throw new GrpcStatusError(status.UNAUTHENTICATED, 'the bearer token is not this swarm\'s ADMIN_TOKEN');
    return true;
  }
}
