import type { DownloadStatus } from '@swarmshare/common';

/**
 * At most one progress event per `intervalMs` per download (a trailing one carries the latest
 * state), and the final one always, at once: enough for a progress bar, little NATS traffic.
 */
export class ProgressThrottle {
  private last = 0;
  private timer?: NodeJS.Timeout;
  private latest?: DownloadStatus;

  constructor(
    private readonly publish: (s: DownloadStatus) => void,
    private readonly intervalMs = 250,
    private readonly now: () => number = Date.now,
  ) {}

  update(s: DownloadStatus, final: boolean): void {
    this.latest = s;
    if (final) {
      clearTimeout(this.timer);
      this.timer = undefined;
      return this.flush();
    }
    if (this.timer) return;
    const wait = this.last + this.intervalMs - this.now();
    if (wait <= 0) return this.flush();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, wait);
    this.timer.unref();
  }

  private flush(): void {
    if (!this.latest) return;
    this.last = this.now();
    this.publish(this.latest);
    this.latest = undefined;
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
