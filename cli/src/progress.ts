import { SingleBar } from 'cli-progress';
import { formatBytes } from '@swarmshare/common';

/**
 * A progress bar on stderr (stdout stays for results, e.g. the file id). Without a terminal it
 * prints a line every two seconds instead of redrawing.
 */
export function progressBar(label: string, totalBytes: number): SingleBar {
  const bar = new SingleBar({
    format: `${label.padEnd(11)} [{bar}] {percentage}% | {done} / {total_h} | {rate}`,
    stream: process.stderr,
    noTTYOutput: true,
    notTTYSchedule: 2000,
    hideCursor: true,
    barsize: 30,
    formatValue: (v, _o, type) => String(v),
  });
  const started = Date.now();
  const payload = (value: number) => ({
    done: formatBytes(value),
    total_h: formatBytes(totalBytes),
    rate: `${formatBytes(value / Math.max(0.001, (Date.now() - started) / 1000))}/s`,
  });
  bar.start(Math.max(totalBytes, 1), 0, payload(0));
  const update = bar.update.bind(bar);
  bar.update = ((value: number) => update(value, payload(value))) as typeof bar.update;
  return bar;
}
