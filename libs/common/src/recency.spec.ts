import { addNewest, JobTable, setNewest } from './recency';

describe('recency caches', () => {
  it('setNewest moves a key to the newest end and drops the oldest past the bound', () => {
    const m = new Map<string, number>();
    expect(setNewest(m, 'a', 1, 2)).toBeUndefined();
    expect(setNewest(m, 'b', 2, 2)).toBeUndefined();
    expect(setNewest(m, 'a', 3, 2)).toBeUndefined(); // a is now the newest
    expect(setNewest(m, 'c', 4, 2)).toBe('b');
    expect([...m]).toEqual([
      ['a', 3],
      ['c', 4],
    ]);
  });

  it('addNewest does the same for a set', () => {
    const s = new Set<string>();
    addNewest(s, 'a', 2);
    addNewest(s, 'b', 2);
    addNewest(s, 'a', 2);
    expect(addNewest(s, 'c', 2)).toBe('b');
    expect([...s]).toEqual(['a', 'c']);
  });

  describe('JobTable (injected clock)', () => {
    let t = 0;
    const table = (maxFinished: number, ttlMs: number) => new JobTable<{ id: string }>({ maxFinished, ttlMs }, () => t);
    beforeEach(() => (t = 1000));

    it('keeps a running job however long it runs, and a finished one for ttlMs after it finished', () => {
      const jobs = table(10, 500);
      const a = { id: 'a' };
      jobs.set('a', a);
      t += 1_000_000;
      expect(jobs.get('a')).toBe(a); // running: never forgotten
      jobs.finished('a', a);
      t += 499;
      expect(jobs.get('a')).toBe(a); // its status still answers
      t += 1;
      expect(jobs.get('a')).toBeUndefined();
      expect(jobs.size).toBe(0);
    });

    it('keeps at most maxFinished finished jobs, forgetting the one that finished first; running ones do not count', () => {
      const jobs = table(2, 1e9);
      const [a, b, c, r] = ['a', 'b', 'c', 'r'].map((id) => ({ id }));
      for (const j of [r, a, b, c]) jobs.set(j.id, j);
      jobs.finished('b', b);
      t++;
      jobs.finished('a', a);
      t++;
      jobs.finished('c', c);
      expect(jobs.values().map((j) => j.id).sort()).toEqual(['a', 'c', 'r']);
      expect(jobs.get('b')).toBeUndefined();
      expect(jobs.get('r')).toBe(r);
    });

    it('a job started again under the same key is running again; a late finish of the old one is ignored', () => {
      const jobs = table(0, 0);
      const old = { id: 'x1' };
      const again = { id: 'x2' };
      jobs.set('x', old);
      jobs.set('x', again);
      jobs.finished('x', old);
      t += 10;
      expect(jobs.get('x')).toBe(again);
      jobs.finished('x', again);
      expect(jobs.get('x')).toBeUndefined(); // nothing kept: forgotten at once
    });
  });
});
