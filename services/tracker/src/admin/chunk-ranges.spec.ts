import { Bitfield } from '@swarmshare/common';
import { chunkRanges } from './chunk-ranges';

const bits = (n: number, present: number[]) => {
  const b = new Bitfield(n);
  for (const i of present) b.set(i);
  return b;
};

describe('chunkRanges', () => {
  it('is one range when every holder has every chunk', () => {
    expect(chunkRanges(4, [{ nodeId: 'a', have: Bitfield.full(4) }, { nodeId: 'b', have: Bitfield.full(4) }])).toEqual([{ first: 0, last: 3, copies: 2, holders: ['a', 'b'] }]);
  });

  it('splits where the set of holders changes, and shows chunks nobody holds', () => {
    const haves = [
      { nodeId: 'a', have: bits(6, [0, 1, 2]) },
      { nodeId: 'b', have: bits(6, [2, 3]) },
    ];
    expect(chunkRanges(6, haves)).toEqual([
      { first: 0, last: 1, copies: 1, holders: ['a'] },
      { first: 2, last: 2, copies: 2, holders: ['a', 'b'] },
      { first: 3, last: 3, copies: 1, holders: ['b'] },
      { first: 4, last: 5, copies: 0, holders: [] },
    ]);
  });

  it('has no range for an empty file', () => {
    expect(chunkRanges(0, [{ nodeId: 'a', have: new Bitfield(0) }])).toEqual([]);
  });
});
