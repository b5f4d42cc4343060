import { addNewest, setNewest } from './recency';

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
});
