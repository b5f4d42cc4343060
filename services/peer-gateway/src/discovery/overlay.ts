import { type Logger, type NeighbourRef, type PeerConnection, SwarmError } from '@swarmshare/common';

/** HELLO feature of a connection meant as an overlay link (not a download, probe or connect-back). */
export const OVERLAY_FEATURE = 'overlay';

export interface OverlayOptions {
  nodeId: string;
  selfAddress(): string;
  /**
   * Dial a peer for an overlay link (HELLO lists the overlay feature); `opened` runs on the peer's
   * HELLO, before any later frame of it is read, so the link is adopted before it can carry a QUERY.
   */
  dial(address: string, opened: (conn: PeerConnection) => void): Promise<PeerConnection>;
  bootstrap: string[];
  maxNeighbours: number;
  minNeighbours: number;
  /** Peers the tracker lists, when one is up; failures are ignored (the tracker is optional). */
  trackerPeers?: () => Promise<NeighbourRef[]>;
  tickMs?: number;
  logger?: Logger;
}

interface Neighbour {
  nodeId: string;
  address: string;
  direction: 'out' | 'in';
  conn: PeerConnection;
}

const MAX_BACKOFF_MS = 30_000;
const MAX_KNOWN = 1000;

/**
 * This node's overlay neighbours: a bounded set of open connections. They come from the bootstrap
 * list, the tracker when it answers, and neighbours' neighbour lists; peers that dial us with the
 * overlay feature are adopted while there is room. A dead neighbour is simply dropped, and the
 * next tick dials a replacement (with back-off per address), so the graph heals.
 */
export class Overlay {
  private readonly neighbours = new Map<string, Neighbour>();
  private readonly bootstrap = new Set<string>();
  /** Addresses learnt, with the time before which they are not dialled again. */
  private readonly known = new Map<string, { notBefore: number; failures: number }>();
  private readonly dialing = new Set<string>();
  private timer?: NodeJS.Timeout;
  private ticking?: Promise<void>;
  private stopped = false;

  constructor(private readonly opts: OverlayOptions) {
    for (const a of opts.bootstrap) this.bootstrap.add(a);
  }

  start(): void {
    void this.tick();
    this.timer = setInterval(() => void this.tick(), this.opts.tickMs ?? 1000);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    for (const n of this.neighbours.values()) n.conn.close('overlay stopped');
    this.neighbours.clear();
  }

  /** More bootstrap peers (`fetch --peers`); resolves once each was tried. */
  async addBootstrap(addresses: string[]): Promise<void> {
    for (const a of addresses) {
      if (a === this.opts.selfAddress()) continue;
      this.bootstrap.add(a);
      this.known.delete(a);
    }
    await this.tick();
  }

  list(): NeighbourRef[] {
    return [...this.neighbours.values()].map((n) => ({ nodeId: n.nodeId, address: n.address }));
  }

  info(): Array<NeighbourRef & { direction: 'out' | 'in' }> {
    return [...this.neighbours.values()].map((n) => ({ nodeId: n.nodeId, address: n.address, direction: n.direction }));
  }

  connections(): PeerConnection[] {
    return [...this.neighbours.values()].map((n) => n.conn);
  }

  connectionTo(address: string): PeerConnection | undefined {
    for (const n of this.neighbours.values()) if (n.address === address && n.conn.state === 'open') return n.conn;
    return undefined;
  }

  get size(): number {
    return this.neighbours.size;
  }

  /** True if `conn` is an overlay link: a neighbour's connection (QUERY is taken only on those). */
  isNeighbour(conn: PeerConnection): boolean {
    const id = conn.remote?.nodeId;
    return id !== undefined && this.neighbours.get(id)?.conn === conn;
  }

  /**
   * An accepted connection: adopted as a neighbour if the dialler asked for an overlay link. Decided
   * on its HELLO, before the next frame is read: a QUERY right behind it finds the link adopted.
   */
  accept(conn: PeerConnection): void {
    conn.whenOpen((h) => {
      if (!h.features.includes(OVERLAY_FEATURE) || !h.listen) return;
      if (!this.adopt(conn, 'in')) conn.close(`neighbour list of ${this.opts.nodeId} is full`);
    });
  }

  /** One maintenance round: keep bootstrap peers connected, and fill up to MIN_NEIGHBOURS from what we learn. */
  tick(): Promise<void> {
    this.ticking ??= this.round().finally(() => (this.ticking = undefined));
    return this.ticking;
  }

  private async round(): Promise<void> {
    if (this.stopped) return;
    const connected = new Set([...this.neighbours.values()].map((n) => n.address));
    const want = [...this.bootstrap].filter((a) => !connected.has(a));
    if (this.neighbours.size < this.opts.minNeighbours) {
      await this.learn();
      want.push(...[...this.known.keys()].filter((a) => !connected.has(a) && !this.bootstrap.has(a)));
    }
    const now = Date.now();
    const room = this.opts.maxNeighbours - this.neighbours.size - this.dialing.size;
    const dials = want.filter((a) => !this.dialing.has(a) && (this.known.get(a)?.notBefore ?? 0) <= now && a !== this.opts.selfAddress()).slice(0, Math.max(0, room));
    await Promise.all(dials.map((a) => this.dialOne(a)));
  }

  private async learn(): Promise<void> {
    const lists: NeighbourRef[][] = [];
    const conns = this.connections().filter((c) => c.speaksDiscovery && c.state === 'open');
    const pick = conns[Math.floor(Math.random() * conns.length)];
    if (pick) lists.push(await pick.neighbours().catch(() => []));
    if (this.opts.trackerPeers) lists.push(await this.opts.trackerPeers().catch(() => []));
    for (const p of lists.flat()) {
      if (p.nodeId === this.opts.nodeId || p.address === this.opts.selfAddress() || this.known.has(p.address)) continue;
      if (this.known.size >= MAX_KNOWN) break;
      this.known.set(p.address, { notBefore: 0, failures: 0 });
    }
  }

  private async dialOne(address: string): Promise<void> {
    this.dialing.add(address);
    try {
      let adopted = false;
      const conn = await this.opts.dial(address, (c) => (adopted = this.adopt(c, 'out', address)));
      this.known.set(address, { notBefore: 0, failures: 0 });
      if (!adopted) conn.close('already a neighbour, or no room');
    } catch (e) {
      const k = this.known.get(address) ?? { notBefore: 0, failures: 0 };
      k.failures++;
      k.notBefore = Date.now() + Math.min(MAX_BACKOFF_MS, 500 * 2 ** (k.failures - 1));
      this.known.set(address, k);
      this.opts.logger?.debug({ peer: address, err: (e as Error).message }, 'could not reach a would-be neighbour');
    } finally {
      this.dialing.delete(address);
    }
  }

  private adopt(conn: PeerConnection, direction: 'out' | 'in', dialled?: string): boolean {
    if (this.stopped || conn.state !== 'open' || !conn.remote) return false;
    const nodeId = conn.remote.nodeId;
    if (nodeId === this.opts.nodeId) return false;
    const existing = this.neighbours.get(nodeId);
    if (existing) {
      // Both sides dialled each other: both keep the link dialled by the smaller node id.
      const preferred = (direction === 'out') === this.opts.nodeId < nodeId;
      if (!preferred || existing.direction === direction) return false;
      this.neighbours.delete(nodeId);
      existing.conn.close('duplicate overlay link');
    } else if (this.neighbours.size >= this.opts.maxNeighbours) {
      return false;
    }
    const n: Neighbour = { nodeId, address: dialled ?? conn.remote.listen ?? '', direction, conn };
    if (!n.address) throw new SwarmError('BAD_REQUEST', `neighbour ${nodeId} has no listen address`);
    this.neighbours.set(nodeId, n);
    // Neighbours may be quiet for long (no queries); they are few (MAX_NEIGHBOURS), so they stay open.
    conn.exemptFromIdleTimeout();
    this.opts.logger?.info({ neighbour: nodeId, address: n.address, direction }, 'overlay neighbour joined');
    void conn.closed.then((reason) => {
      if (this.neighbours.get(nodeId) !== n) return;
      this.neighbours.delete(nodeId);
      if (!this.stopped) {
        this.opts.logger?.info({ neighbour: nodeId, reason }, 'overlay neighbour left');
        void this.tick();
      }
    });
    return true;
  }
}
