/** Durations as people write them: "24h", "90m", "7d", "1h30m", "2w" (a unit is required: "24" is refused). */
const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Shortest and longest file TTL (`share --ttl`): a second, and ten years. */
export const MIN_TTL_MS = 1000;
export const MAX_TTL_MS = 3650 * 86_400_000;

export function parseDuration(text: string): number {
  const t = text.trim().toLowerCase();
  const parts = [...t.matchAll(/(\d+(?:\.\d+)?)([smhdw])/g)];
  if (t === '' || parts.map((p) => p[0]).join('') !== t) {
    throw new Error(`"${text}" is not a duration; write a number with a unit: s, m, h, d or w (e.g. 90s, 30m, 24h, 7d, 1h30m)`);
  }
  const ms = Math.round(parts.reduce((sum, p) => sum + Number(p[1]) * UNITS[p[2]], 0));
  if (!Number.isSafeInteger(ms)) throw new Error(`"${text}" is too long`);
  return ms;
}

/** A file TTL from `--ttl`: a duration from MIN_TTL_MS to MAX_TTL_MS. */
export function parseTtl(text: string): number {
  const ms = parseDuration(text);
  if (ms < MIN_TTL_MS || ms > MAX_TTL_MS) throw new Error(`--ttl ${text} is out of range: a file's TTL is from 1s to 3650d`);
  return ms;
}

/** "23h 59m", "6d 4h", "42s": the largest two units, for tables. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const units: Array<[string, number]> = [['d', 86_400], ['h', 3600], ['m', 60], ['s', 1]];
  const out: string[] = [];
  let rest = s;
  for (const [u, n] of units) {
    if (rest >= n || (out.length === 0 && u === 's')) {
      out.push(`${Math.floor(rest / n)}${u}`);
      rest %= n;
    }
    if (out.length === 2) break;
  }
  return out.join(' ');
}
