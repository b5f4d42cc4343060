import { RestartPolicy } from './restart-policy';

describe('RestartPolicy', () => {
  const opts = { initialDelayMs: 100, maxDelayMs: 1000, maxRestarts: 3, windowMs: 10_000 };

  it('backs off exponentially, capped, and gives up on the restart that would exceed the limit in the window', () => {
    let now = 0;
    const p = new RestartPolicy({ ...opts, maxRestarts: 5 }, () => now);
    expect(p.onExit()).toEqual({ action: 'restart', delayMs: 100, attempt: 1 });
    now += 100;
    expect(p.onExit()).toEqual({ action: 'restart', delayMs: 200, attempt: 2 });
    now += 200;
    expect(p.onExit()).toEqual({ action: 'restart', delayMs: 400, attempt: 3 });
    now += 400;
    expect(p.onExit()).toEqual({ action: 'restart', delayMs: 800, attempt: 4 });
    now += 800;
    expect(p.onExit()).toEqual({ action: 'restart', delayMs: 1000, attempt: 5 });
    now += 1000;
    expect(p.onExit()).toEqual({ action: 'give-up', restarts: 5, windowMs: 10_000 });
  });

  it('forgets restarts older than the window: a service that crashes rarely is always restarted quickly', () => {
    let now = 0;
    const p = new RestartPolicy(opts, () => now);
    for (let i = 0; i < 10; i++) {
      expect(p.onExit()).toEqual({ action: 'restart', delayMs: 100, attempt: 1 });
      now += 10_001;
    }
  });

  it('a crash loop is reported once the window holds maxRestarts restarts, and again while it keeps crashing', () => {
    let now = 0;
    const p = new RestartPolicy(opts, () => now);
    p.onExit();
    p.onExit();
    p.onExit();
    expect(p.onExit().action).toBe('give-up');
    now += 5_000;
    expect(p.onExit().action).toBe('give-up');
    now += 5_001;
    expect(p.onExit()).toEqual({ action: 'restart', delayMs: 100, attempt: 1 });
  });
});
