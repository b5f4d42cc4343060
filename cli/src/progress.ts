import { SingleBar } from 'cli-progress';
import { formatBytes } from '@swarmshare/common/contracts';

/** A byte-progress bar whose total may be learnt late (a trackerless fetch knows it from the manifest). */
export interface ByteProgress {
  update(bytes: number): void;
  /** Set the total once known; until then the bar shows "? B". */
  setTotal(bytes: number): void;
  stop(): void;
}

/**
 * A progress bar on stderr (stdout stays for results, e.g. the file id). Without a terminal it
 * prints a line every two seconds instead of redrawing.
 */
export function progressBar(label: string, totalBytes: number | undefined): ByteProgress {
  const bar = new SingleBar({
    format: `${label.padEnd(11)} [{bar}] {percentage}% | {done} / {total_h} | {rate}`,
    stream: process.stderr,
    noTTYOutput: true,
    notTTYSchedule: 2000,
    hideCursor: true,
    barsize: 30,
    formatValue: (v) => String(v),
  });
  let total = totalBytes;
  let value = 0;
  const started = Date.now();
  const payload = () => ({
    done: formatBytes(value),
    total_h: total === undefined ? '? B' : formatBytes(total),
    rate: `${formatBytes(value / Math.max(0.001, (Date.now() - started) / 1000))}/s`,
  });
  bar.start(Math.max(total ?? 0, 1), 0, payload());
  return {
    update(bytes) {
      value = bytes;
      bar.update(value, payload());
    },
    setTotal(bytes) {
      if (bytes === total) return;
      total = bytes;
      bar.setTotal(Math.max(bytes, 1));
      bar.update(value, payload());
    },
    stop: () => bar.stop(),
  };
}

/** A count-progress bar (e.g. nodes of a preheat): `done / total` and a free-form status after it. */
export interface CountProgress {
  update(done: number, total: number, status: string): void;
  stop(): void;
}

/** Like progressBar, for things counted rather than bytes; on stderr, a line every two seconds without a terminal. */
export function countBar(label: string, unit: string): CountProgress {
  const bar = new SingleBar({
    format: `${label.padEnd(11)} [{bar}] {value}/{total} ${unit} | {status}`,
    stream: process.stderr,
    noTTYOutput: true,
    notTTYSchedule: 2000,
    hideCursor: true,
    barsize: 30,
  });
  bar.start(1, 0, { status: '' });
  return {
    update(done, total, status) {
      bar.setTotal(Math.max(total, 1));
      bar.update(done, { status });
    },
    stop: () => bar.stop(),
  };
}
