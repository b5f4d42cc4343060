import { RateEstimator, pipelineDepth, requestTimeoutMs } from './rate-estimator';

describe('RateEstimator', () => {
  it('is undefined until enough time has passed, then bytes per second over the window', () => {
    let t = 0;
    const r = new RateEstimator(1000, 100, 200, () => t);
    expect(r.rate()).toBeUndefined();
    r.record(1000);
    t = 100;
    expect(r.rate()).toBeUndefined(); // 100 ms of data says little
    r.record(1000);
    t = 400;
    r.record(2000);
    expect(r.rate()).toBeCloseTo((4000 * 1000) / 400);
  });

  it('forgets samples older than the window', () => {
    let t = 0;
    const r = new RateEstimator(1000, 100, 100, () => t);
    r.record(1_000_000);
    t = 2000;
    r.record(500);
    t = 2500;
    expect(r.rate()).toBeCloseTo(500); // only the recent 500 bytes over the 1 s window
  });

  it('rejects an impossible window', () => {
    expect(() => new RateEstimator(100, 200)).toThrow(RangeError);
  });
});

describe('pipelineDepth', () => {
  const s = { targetSeconds: 2, min: 2, max: 32, initial: 4 };
  const MiB = 1024 * 1024;

  it('keeps about targetSeconds of the measured rate in flight', () => {
    expect(pipelineDepth(5 * MiB, MiB, s)).toBe(10);
    expect(pipelineDepth(5.5 * MiB, MiB, s)).toBe(11);
  });

  it('is clamped to [min, max] and starts at the initial depth', () => {
    expect(pipelineDepth(undefined, MiB, s)).toBe(4);
    expect(pipelineDepth(10, MiB, s)).toBe(2);
    expect(pipelineDepth(1e12, MiB, s)).toBe(32);
    expect(() => pipelineDepth(1, 0, s)).toThrow(RangeError);
  });
});

describe('requestTimeoutMs', () => {
  it('grows with the chunk size', () => {
    expect(requestTimeoutMs(64 * 1024)).toBe(3250);
    expect(requestTimeoutMs(4 * 1024 * 1024)).toBe(19_000);
    expect(requestTimeoutMs(4 * 1024 * 1024)).toBeGreaterThan(requestTimeoutMs(1024 * 1024));
  });
});
