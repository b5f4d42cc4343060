/** What a node reports holding: fileId -> complete ('c'), downloading ('p') or held in part, idle ('h'). */
export type HeldState = 'c' | 'p' | 'h';
export type Held = ReadonlyMap<string, HeldState>;

export interface AnnouncePlan {
  /** The node holds these in full: seeder (and no longer a leecher). */
  seed: string[];
  /** The node is downloading these: leecher (and not a seeder). */
  leech: string[];
  /** The node holds these in part and is not downloading them: a partial holder, not a leecher. */
  hold: string[];
  /** The node reported these last time and no longer does (deleted or abandoned): leave their swarms. */
  drop: string[];
}

/**
 * An announce's holdings; a file listed as both complete and partial counts as complete. With
 * `downloading` given, only those partial files are being downloaded; without it (older gateways),
 * every partial file is.
 */
export function heldFromAnnounce(complete: readonly string[], partial: readonly string[], downloading?: readonly string[]): Map<string, HeldState> {
  const held = new Map<string, HeldState>();
  const active = downloading === undefined ? undefined : new Set(downloading);
  for (const id of complete) held.set(id, 'c');
  for (const id of partial) if (!held.has(id)) held.set(id, !active || active.has(id) ? 'p' : 'h');
  return held;
}

/**
 * Reconcile a node's announce against what it reported before. The announce is the node's own,
 * current truth, so it is applied in full every time (that is what repairs a lost event or a
 * restarted tracker). A file is only dropped if this node itself reported it before: a seeder added
 * by registerFile or downloadCompleted is never removed by an announce that merely raced with it.
 */
export function planAnnounce(previous: Held, held: Held): AnnouncePlan {
  const seed: string[] = [];
  const leech: string[] = [];
  const hold: string[] = [];
  for (const [id, state] of held) (state === 'c' ? seed : state === 'p' ? leech : hold).push(id);
  const drop = [...previous.keys()].filter((id) => !held.has(id));
  return { seed, leech, hold, drop };
}
