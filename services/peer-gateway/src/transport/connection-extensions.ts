import type { DiscoveryHooks, PeerConnection } from '@swarmshare/common';

/**
 * What this gateway's connections carry beyond the protocol core, contributed by the parts that
 * need it: HELLO features, the discovery messages' hooks, and listeners for accepted connections.
 * PeerServer and PeerConnector read it for each connection; Discovery registers itself when it
 * is made. So the dependencies run one way (discovery → transport → extensions), where the
 * transport once needed Discovery and Discovery the transport. Nothing is made before every
 * provider exists: the server listens and the connector dials only once the app has started.
 */
export class ConnectionExtensions {
  private readonly extraFeatures: string[] = [];
  private hooks?: DiscoveryHooks;
  private readonly acceptListeners: ((conn: PeerConnection) => void)[] = [];

  /** `baseFeatures`: what every connection announces (our downloads take HAVE_UPDATEs and TRY_PEERS). */
  constructor(private readonly baseFeatures: readonly string[] = []) {}

  /** HELLO features of a new connection. */
  get features(): string[] {
    return [...this.extraFeatures, ...this.baseFeatures];
  }

  /** The discovery messages' handler, if discovery registered one. */
  get discovery(): DiscoveryHooks | undefined {
    return this.hooks;
  }

  /** Discovery serves its messages on every connection and announces its features. One registration only. */
  serveDiscovery(features: readonly string[], hooks: DiscoveryHooks): void {
    if (this.hooks) throw new Error('discovery hooks are registered already');
    this.extraFeatures.push(...features);
    this.hooks = hooks;
  }

  /** Hear every accepted connection (the overlay adopts those that ask to be neighbours). */
  onAccepted(listener: (conn: PeerConnection) => void): void {
    this.acceptListeners.push(listener);
  }

  accepted(conn: PeerConnection): void {
    for (const l of this.acceptListeners) l(conn);
  }
}
