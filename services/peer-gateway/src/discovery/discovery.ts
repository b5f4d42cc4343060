import {
  DISCOVERY_FEATURE,
  type DiscoveryHooks,
  type DiscoverMode,
  type FoundHolder,
  type Logger,
  type NeighbourRef,
  type PeerConnection,
  type PeerRef,
  SwarmError,
} from '@swarmshare/common';
import { FloodQueries } from './flood';
import { IterativeLookup } from './iterative';
import { OVERLAY_FEATURE, Overlay } from './overlay';

export interface DiscoveryOptions {
  nodeId: string;
  selfAddress(): string;
  /** Dial through the gateway's connector (so shutdown closes these too). */
  connect(address: string, expectNodeId: string | undefined, o: { features: string[]; connectTimeoutMs?: number; opened?(conn: PeerConnection): void }): Promise<PeerConnection>;
  localHave(fileId: string): Promise<{ chunkCount: number; bitfield: string }>;
  trackerPeers?: () => Promise<NeighbourRef[]>;
  bootstrap: string[];
  maxNeighbours: number;
  minNeighbours: number;
  queryHops: number;
  queryRatePerOrigin: number;
  dedupeSize: number;
  lookupTimeoutMs: number;
  lookupParallelism: number;
  lookupCacheTtlMs: number;
  discoveryTimeoutMs: number;
  tickMs?: number;
  logger?: Logger;
}

/** A connect-back (or lookup) link not claimed by a download within this time is closed. */
const LINK_CLAIM_MS = 30_000;

/**
 * Trackerless discovery for one gateway: the overlay, the flood query with connect-back, and the
 * iterative neighbour lookup. `hooks` answers the discovery messages on every connection;
 * `holderSource` feeds a download the holders a scheme finds, as it finds them.
 */
export class Discovery {
  readonly overlay: Overlay;
  readonly flood: FloodQueries;
  readonly iterative: IterativeLookup;
  readonly features = [DISCOVERY_FEATURE];
  /** Links to holders found by discovery, waiting for the download to use them. */
  private readonly links = new Map<string, { conn: PeerConnection; timer: NodeJS.Timeout }>();

  readonly hooks: DiscoveryHooks = {
    neighbours: (conn) => this.overlay.list().filter((n) => n.nodeId !== conn.remote?.nodeId),
    onQuery: (q, conn) => this.flood.onQuery(q, conn),
    onQueryHit: (hit, conn) => this.flood.onQueryHit(hit, conn),
  };

  constructor(private readonly opts: DiscoveryOptions) {
    const probe = { features: [DISCOVERY_FEATURE] };
    this.overlay = new Overlay({
      nodeId: opts.nodeId,
      selfAddress: opts.selfAddress,
      dial: (a, opened) => opts.connect(a, undefined, { features: [DISCOVERY_FEATURE, OVERLAY_FEATURE], connectTimeoutMs: opts.lookupTimeoutMs, opened }),
      bootstrap: opts.bootstrap,
      maxNeighbours: opts.maxNeighbours,
      minNeighbours: opts.minNeighbours,
      trackerPeers: opts.trackerPeers,
      tickMs: opts.tickMs,
      logger: opts.logger,
    });
    this.flood = new FloodQueries({
      nodeId: opts.nodeId,
      selfAddress: opts.selfAddress,
      neighbours: () => this.overlay.connections(),
      isOverlayLink: (conn) => this.overlay.isNeighbour(conn),
      localHave: opts.localHave,
      connectBack: (a, nodeId) => opts.connect(a, nodeId, { ...probe, connectTimeoutMs: opts.lookupTimeoutMs }),
      offerLink: (nodeId, conn) => this.offerLink(nodeId, conn),
      dedupeSize: opts.dedupeSize,
      ratePerOrigin: opts.queryRatePerOrigin,
      logger: opts.logger,
    });
    this.iterative = new IterativeLookup({
      nodeId: opts.nodeId,
      selfAddress: opts.selfAddress,
      neighbours: () => this.overlay.list(),
      linkTo: (a) => this.overlay.connectionTo(a),
      dial: (a, ms) => opts.connect(a, undefined, { ...probe, connectTimeoutMs: ms }),
      offerLink: (nodeId, conn) => this.offerLink(nodeId, conn),
      timeoutMs: opts.lookupTimeoutMs,
      parallelism: opts.lookupParallelism,
      cacheTtlMs: opts.lookupCacheTtlMs,
      logger: opts.logger,
    });
  }

  start(): void {
    this.overlay.start();
  }

  /** Nest lifecycle: the overlay starts once the peer server listens (GatewayLifecycle.onModuleInit). */
  onApplicationBootstrap(): void {
    this.start();
  }

  beforeApplicationShutdown(): void {
    this.stop();
  }

  stop(): void {
    this.overlay.stop();
    for (const { conn, timer } of this.links.values()) {
      clearTimeout(timer);
      conn.close('gateway shutting down');
    }
    this.links.clear();
  }

  /** The connection a holder opened (connect-back) or we opened to ask it; undefined if none is waiting. */
  takeLink(nodeId: string): PeerConnection | undefined {
    const l = this.links.get(nodeId);
    if (!l) return undefined;
    this.links.delete(nodeId);
    clearTimeout(l.timer);
    return l.conn.state === 'open' ? l.conn : undefined;
  }

  private offerLink(nodeId: string, conn: PeerConnection): void {
    const old = this.links.get(nodeId);
    if (old && old.conn !== conn) {
      clearTimeout(old.timer);
      old.conn.close('superseded by a newer link');
    }
    const timer = setTimeout(() => {
      if (this.links.get(nodeId)?.conn !== conn) return;
      this.links.delete(nodeId);
      conn.close('no download claimed this link');
    }, LINK_CLAIM_MS);
    timer.unref();
    this.links.set(nodeId, { conn, timer });
  }

  /** Holders of a file, found by flood or iterative lookup, fed to a download as they turn up. */
  holderSource(fileId: string, mode: Exclude<DiscoverMode, 'tracker'>): DiscoveryHolderSource {
    return new DiscoveryHolderSource(this, fileId, mode, this.opts.discoveryTimeoutMs, this.opts.queryHops);
  }

  stats(): Record<string, unknown> {
    return { neighbours: this.overlay.size, flood: { ...this.flood.stats, dedupe: this.flood.dedupeSize }, iterative: { ...this.iterative.stats } };
  }
}

/**
 * What DownloadJob consumes (HolderSource in download/holder-pool.ts): runs one discovery scheme and
 * reports each holder once, with how and when it was found, until stopped or out of time.
 */
export class DiscoveryHolderSource {
  readonly found: FoundHolder[] = [];
  private stopped = false;
  private wake: () => void = () => undefined;
  private stopFlood?: () => void;

  constructor(
    private readonly d: Discovery,
    readonly fileId: string,
    readonly mode: Exclude<DiscoverMode, 'tracker'>,
    private readonly timeoutMs: number,
    private readonly hops: number,
  ) {}

  async search(report: (holder: PeerRef, found: FoundHolder) => void): Promise<void> {
    const t0 = Date.now();
    const seen = new Set<string>();
    const add = (nodeId: string, address: string) => {
      if (this.stopped || seen.has(nodeId)) return;
      seen.add(nodeId);
      const f: FoundHolder = { nodeId, address, via: this.mode, afterMs: Date.now() - t0 };
      this.found.push(f);
      report({ nodeId, address }, f);
    };
    const deadline = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.timeoutMs);
      timer.unref();
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    if (this.d.overlay.size === 0) {
      // A fresh gateway may still be dialling its bootstrap peers.
      await Promise.race([this.d.overlay.tick(), deadline]);
    }
    if (this.d.overlay.size === 0 && !this.stopped) {
      throw new SwarmError('UNAVAILABLE', 'no overlay neighbours to ask: set BOOTSTRAP_PEERS or pass --peers host:port');
    }
    if (this.mode === 'flood') {
      const q = this.d.flood.start(this.fileId, this.hops, (h) => add(h.nodeId, h.address));
      this.stopFlood = q.stop;
      // Holders answer by connecting back; listen until the download is done or time is up.
      await deadline;
      q.stop();
      return;
    }
    // Iterative: one pass over the rings; if it ends without every chunk covered, look again
    // (neighbours change, holders appear) until time is up or the download is done.
    while (!this.stopped) {
      const r = await Promise.race([this.d.iterative.run(this.fileId, (h) => add(h.nodeId, h.address), () => this.stopped), deadline.then(() => undefined)]);
      if (!r || r.covered || this.stopped) return;
      await Promise.race([deadline, new Promise((res) => setTimeout(res, 500).unref())]);
      if (Date.now() - t0 >= this.timeoutMs) return;
    }
  }

  /** The download is complete or stopped: refuse later offers, stop looking. */
  stop(): void {
    this.stopped = true;
    this.stopFlood?.();
    this.wake();
  }
}

/**
 * The default: the tracker's holders when it answers and lists any; otherwise (tracker down, not
 * configured, or it knows no live holder) iterative lookup.
 */
export class AutoHolderSource {
  mode: DiscoverMode = 'tracker';
  private inner?: DiscoveryHolderSource;
  private stopped = false;

  constructor(
    private readonly d: Discovery,
    readonly fileId: string,
    private readonly trackerHolders: (fileId: string) => Promise<PeerRef[]>,
    private readonly logger?: Logger,
  ) {}

  get found(): FoundHolder[] {
    return this.inner?.found ?? [];
  }

  async search(report: (holder: PeerRef, found: FoundHolder) => void): Promise<void> {
    const t0 = Date.now();
    try {
      const refs = (await this.trackerHolders(this.fileId)).filter((r) => r.address);
      if (refs.length > 0) {
        for (const r of refs) report(r, { nodeId: r.nodeId, address: r.address!, via: 'tracker', afterMs: Date.now() - t0 });
        return;
      }
      this.logger?.info({ fileId: this.fileId }, 'the tracker lists no live holder; falling back to iterative lookup');
    } catch (e) {
      // An answer (e.g. NOT_FOUND: no such file) is the tracker's word; only silence means "ask the peers".
      const code = (e as SwarmError).code;
      if (code !== 'UNAVAILABLE' && code !== 'TIMEOUT') throw e;
      this.logger?.info({ fileId: this.fileId, err: (e as Error).message }, 'the tracker does not answer; falling back to iterative lookup');
    }
    if (this.stopped) return;
    this.mode = 'iterative';
    this.inner = this.d.holderSource(this.fileId, 'iterative');
    await this.inner.search(report);
  }

  stop(): void {
    this.stopped = true;
    this.inner?.stop();
  }
}
