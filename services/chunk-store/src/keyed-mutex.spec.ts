import { KeyedMutex } from './keyed-mutex';

const tick = () => new Promise((r) => setImmediate(r));

describe('KeyedMutex', () => {
  test('runs work on one key one at a time, in arrival order', async () => {
    const m = new KeyedMutex();
    const log: string[] = [];
    const job = (name: string) => async () => {
      log.push(`${name}:start`);
      await tick();
      log.push(`${name}:end`);
      return name;
    };
    const results = await Promise.all([m.run('k', job('a')), m.run('k', job('b')), m.run('k', job('c'))]);
    expect(results).toEqual(['a', 'b', 'c']);
    expect(log).toEqual(['a:start', 'a:end', 'b:start', 'b:end', 'c:start', 'c:end']);
  });

  test('different keys run concurrently', async () => {
    const m = new KeyedMutex();
    const log: string[] = [];
    await Promise.all(
      ['x', 'y'].map((k) =>
        m.run(k, async () => {
          log.push(`${k}:start`);
          await tick();
          log.push(`${k}:end`);
        }),
      ),
    );
    expect(log).toEqual(['x:start', 'y:start', 'x:end', 'y:end']);
  });

  test('a failing job does not block the next one, and idle keys are forgotten', async () => {
    const m = new KeyedMutex();
    await expect(m.run('k', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(m.run('k', async () => 42)).resolves.toBe(42);
    expect(m.size).toBe(0);
  });
});
