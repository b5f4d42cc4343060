import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Runs per property. The default keeps `npm test` quick; FUZZ_RUNS=100000 (with FUZZ_SEED to replay
 * a failure that fast-check printed) searches longer.
 */
export const FUZZ_RUNS = Number(process.env.FUZZ_RUNS ?? 300);

/** fast-check's options for every property: the run count, and FUZZ_SEED when set (to replay a failure). */
export const FUZZ = { numRuns: FUZZ_RUNS, ...(process.env.FUZZ_SEED ? { seed: Number(process.env.FUZZ_SEED) } : {}) };

/** The checked-in seed corpus: frames worth trying every run (valid, truncated, oversized, malformed). */
export function corpusFrames(): Buffer[] {
  const dir = join(__dirname, 'corpus', 'frames');
  return readdirSync(dir)
    .sort()
    .map((f) => Buffer.from(readFileSync(join(dir, f), 'utf8').trim(), 'hex'));
}
