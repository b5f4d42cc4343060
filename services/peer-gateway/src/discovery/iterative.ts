import { Bitfield, type Logger, type NeighbourRef, type PeerConnection } from '@swarmshare/common';
import { AnswerCache } from './answer-cache';
import { RingPlanner } from './ring-planner';

export interface IterativeOptions {
  nodeId: string;
  selfAddress(): string;
  /** Our overlay neighbours (ring 1). */
  neighbours(): NeighbourRef[];
  /** An open overlay link to this address, reused instead of dialling. */
  linkTo(address: string): PeerConnection | undefined;
  /** Dial a peer just to ask it (closed afterwards unless it holds the file). */
  dial(address: string, timeoutMs: number): Promise<PeerConnection>;
  offerLink(nodeId: string, conn: PeerConnection): void;
  timeoutMs: number;
  parallelism: number;
  cacheTtlMs: number;
  maxRings?: number;
  maxAsked?: number;
  logger?: Logger;
}

export interface IterativeStats {
  lookups: number;
  asked: number;
  cacheHits: number;
  timeouts: number;
  failures: number;
  /** Requests sent and answers received (HAVE_REQUEST + NEIGHBOURS_REQUEST, and their answers). */
  messages: number;
}

interface Holding {
  nodeId: string;
  chunkCount: number;
  bitfield: string;
}

export interface FoundByLookup {
  nodeId: string;
  address: string;
  bitfield: Bitfield;
  ring: number;
}

/**
 * The seed's "recursive DNS" (really iterative) scheme: ask a peer for its neighbour list, then ask
 * each listed peer ourselves whether it holds the file, ring by ring, a bounded number of
 * questions in flight (RingPlanner). Answers are cached with an expiry. The lookup stops once the
 * holders found cover every chunk; a peer that is slow or dead costs one timeout on its own slot.
 */
export class IterativeLookup {
  readonly stats: IterativeStats = { lookups: 0, asked: 0, cacheHits: 0, timeouts: 0, failures: 0, messages: 0 };
  private readonly holdings: AnswerCache<Holding>;
  private readonly lists: AnswerCache<NeighbourRef[]>;

  constructor(private readonly opts: IterativeOptions) {
    this.holdings = new AnswerCache(opts.cacheTtlMs);
    this.lists = new AnswerCache(opts.cacheTtlMs);
  }

  /** Runs until holders cover every chunk, nothing is left to ask, or shouldStop() says so. */
  async run(fileId: string, onHolder: (h: FoundByLookup) => void, shouldStop: () => boolean = () => false): Promise<{ covered: boolean; asked: number }> {
    this.stats.lookups++;
    const self = this.opts.selfAddress();
    const planner = new RingPlanner(this.opts.parallelism, this.opts.maxRings ?? 16, this.opts.maxAsked ?? 1000, [self]);
    planner.discovered(
      this.opts.neighbours().map((n) => n.address),
      1,
    );
    let covered: Bitfield | undefined;
    const isCovered = () => covered !== undefined && covered.isComplete();
    let wake: () => void = () => undefined;
    const running = new Set<Promise<void>>();

    const ask = async (address: string, ring: number): Promise<void> => {
      const answer = await this.ask(fileId, address);
      if (!answer) return;
      if (answer.holding && answer.holding.chunkCount > 0) {
        const bits = safeBits(answer.holding);
        if (bits && bits.count() > 0) {
          covered ??= new Bitfield(bits.length);
          if (covered.length === bits.length) for (const i of bits.indexes()) covered.set(i);
          onHolder({ nodeId: answer.holding.nodeId, address, bitfield: bits, ring });
        }
      }
      planner.discovered(
        answer.neighbours.filter((n) => n.nodeId !== this.opts.nodeId).map((n) => n.address),
        ring + 1,
      );
    };

    for (;;) {
      if (isCovered() || shouldStop()) break;
      for (let p = planner.next(); p; p = planner.next()) {
        const job: Promise<void> = ask(p.address, p.ring)
          .catch((e) => this.opts.logger?.debug({ peer: p!.address, err: (e as Error).message }, 'lookup question failed'))
          .finally(() => {
            planner.done();
            running.delete(job);
            wake();
          });
        running.add(job);
      }
      if (planner.idle()) break;
      await new Promise<void>((r) => (wake = r));
    }
    this.stats.asked += planner.asked;
    return { covered: isCovered(), asked: planner.asked };
  }

  /** Ask one peer for its holdings of the file and its neighbour list, within the timeout. */
  private async ask(fileId: string, address: string): Promise<{ holding?: Holding; neighbours: NeighbourRef[] } | undefined> {
    const key = `${address} ${fileId}`;
    const cachedHolding = this.holdings.get(key);
    const cachedList = this.lists.get(address);
    if (cachedHolding && cachedList) {
      this.stats.cacheHits++;
      // A cached holder is reported again; the download dials it.
      return { holding: cachedHolding, neighbours: cachedList };
    }
    const ms = this.opts.timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    let conn: PeerConnection | undefined;
    let owned = false;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer from ${address} within ${ms} ms`)), ms);
    });
    try {
      const work = (async () => {
        conn = this.opts.linkTo(address);
        if (!conn) {
          conn = await this.opts.dial(address, ms);
          owned = true;
        }
        if (!conn.speaksDiscovery) throw new Error(`${address} does not speak discovery`);
        this.stats.messages += 4;
        const [have, neighbours] = await Promise.all([conn.have(fileId), conn.neighbours()]);
        return { have, neighbours, nodeId: conn.remote!.nodeId };
      })();
      work.catch(() => undefined);
      const r = await Promise.race([work, timeout]);
      const holding: Holding = { nodeId: r.nodeId, chunkCount: r.have.chunkCount, bitfield: r.have.bitfield.toBase64() };
      this.holdings.set(key, holding);
      this.lists.set(address, r.neighbours);
      if (owned && holding.chunkCount > 0 && r.have.bitfield.count() > 0) {
        this.opts.offerLink(r.nodeId, conn!);
        owned = false;
      }
      return { holding, neighbours: r.neighbours };
    } catch (e) {
      if (/within \d+ ms/.test((e as Error).message)) this.stats.timeouts++;
      else this.stats.failures++;
      this.opts.logger?.debug({ peer: address, err: (e as Error).message }, 'lookup: peer did not answer');
      return undefined;
    } finally {
      clearTimeout(timer);
      if (owned) {
        const c = conn as PeerConnection | undefined;
        c?.close('lookup question answered');
      }
    }
  }
}

function safeBits(h: Holding): Bitfield | undefined {
  try {
    return Bitfield.fromBase64(h.chunkCount, h.bitfield);
  } catch {
    return undefined;
  }
}
