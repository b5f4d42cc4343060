import { heldFromAnnounce, planAnnounce } from './announce-plan';

describe('heldFromAnnounce', () => {
  it('dedupes and lets complete win over partial', () => {
    expect(heldFromAnnounce(['a', 'b', 'a'], ['b', 'c', 'c'])).toEqual(
      new Map([
        ['a', 'c'],
        ['b', 'c'],
        ['c', 'p'],
      ]),
    );
  });

  it('with a downloading list, only those partial files are being downloaded; the rest are held in part', () => {
    expect(heldFromAnnounce(['a'], ['a', 'b', 'c'], ['c'])).toEqual(
      new Map([
        ['a', 'c'],
        ['b', 'h'],
        ['c', 'p'],
      ]),
    );
  });
});

describe('planAnnounce', () => {
  it('a partial file no longer downloaded (a failed download) makes its node a partial holder, not a leecher', () => {
    const plan = planAnnounce(new Map([['f', 'p']]), heldFromAnnounce([], ['f'], []));
    expect(plan).toEqual({ seed: [], leech: [], hold: ['f'], drop: [] });
  });

  it('seeds complete files, leeches partial ones, and drops only what the node itself reported before', () => {
    const previous = new Map<string, 'c' | 'p'>([
      ['kept', 'c'],
      ['finished', 'p'],
      ['deleted', 'c'],
      ['abandoned', 'p'],
      ['lost', 'c'],
    ]);
    const held = heldFromAnnounce(['kept', 'finished', 'new'], ['lost', 'started']);
    const plan = planAnnounce(previous, held);
    expect(plan.seed.sort()).toEqual(['finished', 'kept', 'new']);
    // A file it had in full and now reports partial: back to leecher.
    expect(plan.leech.sort()).toEqual(['lost', 'started']);
    expect(plan.drop.sort()).toEqual(['abandoned', 'deleted']);
  });

  it('drops nothing on a first announce (e.g. after the tracker lost its data)', () => {
    const plan = planAnnounce(new Map(), heldFromAnnounce([], []));
    expect(plan).toEqual({ seed: [], leech: [], hold: [], drop: [] });
  });
});
