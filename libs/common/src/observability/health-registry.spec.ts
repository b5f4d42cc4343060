import { HealthRegistry, SHUTDOWN_CHECK } from './health-registry';

describe('HealthRegistry', () => {
  it('is ready with no checks and lists each passing check with its detail', async () => {
    const h = new HealthRegistry();
    expect(await h.report()).toEqual({ status: 'ready', checks: {}, failing: [] });
    h.register('plain', () => undefined);
    h.register('with-detail', async () => ({ lag: 3 }));
    h.register('true', () => true);
    const r = await h.report();
    expect(r.status).toBe('ready');
    expect(r.failing).toEqual([]);
    expect(Object.keys(r.checks)).toEqual(['plain', 'true', 'with-detail']);
    expect(r.checks['with-detail']).toMatchObject({ status: 'up', detail: { lag: 3 } });
    expect(r.checks.plain.detail).toBeUndefined();
    expect(r.checks.true.detail).toBeUndefined();
  });

  it('reports throwing, rejecting, false-returning and slow checks as failing, with the reason', async () => {
    const h = new HealthRegistry();
    h.register('ok', () => undefined);
    h.register('throws', () => {
      throw new Error('disk gone');
    });
    h.register('rejects', () => Promise.reject(new Error('redis down')));
    h.register('false', () => false);
    h.register('slow', () => new Promise((r) => setTimeout(r, 2000).unref()), { timeoutMs: 50 });
    const started = Date.now();
    const r = await h.report();
    expect(Date.now() - started).toBeLessThan(1500);
    expect(r.status).toBe('unready');
    expect(r.failing).toEqual(['false', 'rejects', 'slow', 'throws']);
    expect(r.checks.throws.error).toBe('disk gone');
    expect(r.checks.rejects.error).toBe('redis down');
    expect(r.checks.false.error).toBe('check returned false');
    expect(r.checks.slow.error).toBe('timed out after 50 ms');
    expect(r.checks.ok.status).toBe('up');
  });

  it('replaces a check of the same name, and its remover only removes its own registration', async () => {
    const h = new HealthRegistry();
    const removeFirst = h.register('x', () => false);
    h.register('x', () => undefined);
    removeFirst();
    expect(h.has('x')).toBe(true);
    expect((await h.report()).status).toBe('ready');
    expect(h.registerIfAbsent('x', () => false)).toBe(false);
    expect((await h.report()).status).toBe('ready');
    h.unregister('x');
    expect(h.names()).toEqual([]);
    expect(h.registerIfAbsent('x', () => false)).toBe(true);
    expect((await h.report()).failing).toEqual(['x']);
  });

  it('turns unready for good once shutdown begins', async () => {
    const h = new HealthRegistry();
    h.register('ok', () => undefined);
    h.markShuttingDown();
    const r = await h.report();
    expect(r.status).toBe('unready');
    expect(r.failing).toEqual([SHUTDOWN_CHECK]);
    expect(h.isShuttingDown).toBe(true);
  });

  it('rejects names that would not read well in JSON and logs, and the reserved name', () => {
    const h = new HealthRegistry();
    expect(() => h.register('Bad Name', () => undefined)).toThrow(/must be 1-63 chars/);
    expect(() => h.register(SHUTDOWN_CHECK, () => undefined)).toThrow(/reserved/);
  });
});
