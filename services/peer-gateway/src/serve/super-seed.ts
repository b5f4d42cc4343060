import { addNewest, setNewest, SwarmError } from '@swarmshare/common';

/** Files whose sends are tracked at once (the least recently served is forgotten first). */
const MAX_FILES = 64;
/** How long "this file is not complete here" is believed before the store is asked again. */
const INCOMPLETE_RECHECK_MS = 1000;

export interface SuperSeedOptions {
  /** A chunk sent to one peer is refused to the others for this long (ms); 0 = off. */
  windowMs: number;
  /** Whether this node holds every chunk of the file (only a complete holder super-seeds). */
  isComplete(fileId: string): Promise<boolean>;
  now?: () => number;
}

/** Per chunk of one file, sent within the window: when, and to whom (oldest first). */
type FileSends = Map<number, { at: number; to: string }>;

/**
 * Super-seeding (BitTorrent's idea) at a holder of the whole file: while a chunk's first copy is
 * spreading, a different peer that asks for it within `windowMs` of the last send is refused with
 * TRY_PEERS, so it fetches the chunk from the peer that got it and the origin sends each chunk
 * about once. Never for long (after the window the chunk is served to anyone, so a receiver that
 * died or does not share blocks nobody), and never at a node that holds only part of the file. A
 * peer that is the only one fetching the file is never refused: every chunk went to it, and only a
 * chunk sent to a *different* peer is refused.
 *
 * Memory is bounded: sends older than the window are dropped as new ones come, and at most
 * MAX_FILES files are tracked.
 */
export class SuperSeeder {
  private readonly files = new Map<string, FileSends>();
  private readonly complete = new Set<string>();
  private readonly incompleteSince = new Map<string, number>();
  private readonly completeLookups = new Map<string, Promise<boolean>>();
  private readonly now: () => number;

  constructor(private readonly opts: SuperSeedOptions) {
    if (!Number.isInteger(opts.windowMs) || opts.windowMs < 0) throw new RangeError(`super-seed window must be an integer >= 0 ms, got ${opts.windowMs}`);
    this.now = opts.now ?? (() => performance.now());
  }

  get enabled(): boolean {
    return this.opts.windowMs > 0;
  }

  /**
   * Admit `peer`'s request for chunk `index`: throws TRY_PEERS if it must fetch it from peers,
   * else records the send (call forget() if the chunk then cannot be served after all).
   */
  async admit(fileId: string, index: number, peer: string): Promise<void> {
    if (!this.enabled || !(await this.isComplete(fileId))) return;
    const now = this.now();
    const sent = this.sendsOf(fileId, now);
    const last = sent.get(index);
    if (last && last.to !== peer && now - last.at < this.opts.windowMs) {
      throw new SwarmError(
        'TRY_PEERS',
        `chunk ${index} of file ${fileId.slice(0, 12)} was just sent to ${last.to}: fetch it from peers (this holder serves it again after ${Math.ceil(this.opts.windowMs - (now - last.at))} ms)`,
      );
    }
    // Re-inserted, so the map stays in time order and expired sends are at its front.
    sent.delete(index);
    sent.set(index, { at: now, to: peer });
  }

  /**
   * The admitted chunk has been written to `peer`: the window restarts now, since the receiver
   * can only pass the chunk on once it has all of it (a slow send would otherwise use the window up).
   */
  sent(fileId: string, index: number, peer: string): void {
    const sent = this.files.get(fileId);
    if (sent?.get(index)?.to !== peer) return;
    sent.delete(index);
    sent.set(index, { at: this.now(), to: peer });
  }

  /** The admitted send did not happen (the chunk could not be read): others may have it at once. */
  forget(fileId: string, index: number, peer: string): void {
    const sent = this.files.get(fileId);
    if (sent?.get(index)?.to === peer) sent.delete(index);
  }

  /** The file lost chunks here (rm, a corrupt chunk marked missing): ask the store again whether it is complete. */
  forgetFile(fileId: string): void {
    this.complete.delete(fileId);
    this.incompleteSince.delete(fileId);
    this.files.delete(fileId);
  }

  /** Chunk sends remembered (tests check that memory stays bounded). */
  get trackedSends(): number {
    let n = 0;
    for (const sent of this.files.values()) n += sent.size;
    return n;
  }

  private sendsOf(fileId: string, now: number): FileSends {
    const sent: FileSends = this.files.get(fileId) ?? new Map();
    setNewest(this.files, fileId, sent, MAX_FILES); // most recently served last
    for (const [index, s] of sent) {
      if (now - s.at < this.opts.windowMs) break;
      sent.delete(index);
    }
    return sent;
  }

  /**
   * "Complete" is remembered, "not complete" re-checked now and then. A file that stops being
   * complete here (rm, a corrupt chunk marked missing) is forgotten then (forgetFile, called when
   * the gateway's regions drop chunks) and asked about again.
   */
  private async isComplete(fileId: string): Promise<boolean> {
    if (this.complete.has(fileId)) return true;
    const since = this.incompleteSince.get(fileId);
    if (since !== undefined && this.now() - since < INCOMPLETE_RECHECK_MS) return false;
    let lookup = this.completeLookups.get(fileId);
    if (!lookup) {
      lookup = this.opts.isComplete(fileId).catch(() => false); // store unreachable: serve as usual
      this.completeLookups.set(fileId, lookup);
      void lookup.then((yes) => {
        this.completeLookups.delete(fileId);
        this.incompleteSince.delete(fileId);
        if (yes) addNewest(this.complete, fileId, MAX_FILES);
        else setNewest(this.incompleteSince, fileId, this.now(), MAX_FILES);
      });
    }
    return lookup;
  }
}
