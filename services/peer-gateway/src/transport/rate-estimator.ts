/**
 * Bytes per second over a sliding window, for sizing a holder's pipeline. Samples are bucketed
 * (one bucket per `bucketMs`), so memory is fixed however many chunks arrive. Until `minSpanMs`
 * of data has been seen the estimate is undefined: a single early chunk says little about a link.
 */
export class RateEstimator {
  private readonly buckets: Float64Array;
  private readonly stamps: Float64Array;
  private first?: number;

  constructor(
    private readonly windowMs = 3000,
    private readonly bucketMs = 250,
    private readonly minSpanMs = 250,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (windowMs <= 0 || bucketMs <= 0 || bucketMs > windowMs) throw new RangeError('rate estimator needs 0 < bucketMs <= windowMs');
    const n = Math.ceil(windowMs / bucketMs);
    this.buckets = new Float64Array(n);
    this.stamps = new Float64Array(n).fill(-1);
  }

  record(bytes: number): void {
    const t = this.now();
    this.first ??= t;
    const slot = Math.floor(t / this.bucketMs);
    const i = slot % this.buckets.length;
    if (this.stamps[i] !== slot) {
      this.stamps[i] = slot;
      this.buckets[i] = 0;
    }
    this.buckets[i] += bytes;
  }

  /** Bytes/s over the window (or since the first sample, if that is shorter); undefined if too early. */
  rate(): number | undefined {
    if (this.first === undefined) return undefined;
    const t = this.now();
    const span = Math.min(this.windowMs, t - this.first);
    if (span < this.minSpanMs) return undefined;
    const oldest = Math.floor((t - this.windowMs) / this.bucketMs);
    let sum = 0;
    for (let i = 0; i < this.buckets.length; i++) if (this.stamps[i] > oldest) sum += this.buckets[i];
    return (sum * 1000) / span;
  }
}

export interface PipelineSizing {
  /** Seconds of data to keep requested from one holder (the issue asks for 1 to 3). */
  targetSeconds: number;
  min: number;
  /** Cap (PIPELINE_DEPTH); also bounded by the protocol's requests-in-flight limit. */
  max: number;
  /** Depth before a rate is known. */
  initial: number;
}

/** Requests to keep in flight to a holder: about targetSeconds of its measured rate, in chunks. */
export function pipelineDepth(rate: number | undefined, chunkSize: number, s: PipelineSizing): number {
  if (chunkSize <= 0) throw new RangeError(`chunk size must be > 0, got ${chunkSize}`);
  if (rate === undefined || !Number.isFinite(rate)) return clamp(s.initial, s.min, s.max);
  return clamp(Math.ceil((rate * s.targetSeconds) / chunkSize), s.min, s.max);
}

/**
 * Per-request timeout: a fixed allowance for latency plus the chunk's transfer at a floor rate, so
 * a 4 MiB chunk gets proportionally longer than a 64 KiB one. Measured from the moment the request
 * reaches the head of the holder's queue (a holder serves in order), not from when it was sent.
 */
export function requestTimeoutMs(chunkLength: number, baseMs = 3000, floorRate = 256 * 1024): number {
  return Math.ceil(baseMs + (chunkLength / floorRate) * 1000);
}

function clamp(n: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(hi, n));
}
