import { SwarmError } from './errors';
import { checkAllocation, chunkLengthsOf, groupPlacement, maxReplicasThatFit, parseAllocation, planPlacement } from './replication';

const MiB = 1024 * 1024;

/** Copies of each chunk across the placement, and bytes per node. */
function tally(assign: Map<string, number[]>, lengths: number[]) {
  const copies = new Array(lengths.length).fill(0);
  const bytes = new Map<string, number>();
  for (const [n, idx] of assign) {
    expect(new Set(idx).size).toBe(idx.length); // a chunk never twice on one node
    for (const i of idx) {
      copies[i]++;
      bytes.set(n, (bytes.get(n) ?? 0) + lengths[i]);
    }
  }
  return { copies, bytes };
}

describe('planPlacement', () => {
  const lengths = chunkLengthsOf(100 * MiB, MiB);

  it('puts exactly N copies of each chunk on distinct peers, spread evenly over equal peers', () => {
    const budgets = ['b', 'c', 'd', 'e'].map((nodeId) => ({ nodeId, bytes: 1024 * MiB }));
    const { assign, bytes } = planPlacement({ chunkLengths: lengths, replicas: 2, budgets });
    const t = tally(assign, lengths);
    expect(t.copies.every((c) => c === 2)).toBe(true);
    expect([...t.bytes.values()].sort()).toEqual([50 * MiB, 50 * MiB, 50 * MiB, 50 * MiB]);
    expect(bytes).toEqual(t.bytes);
  });

  it('prefers the peers with the most room and never exceeds a budget', () => {
    const budgets = [
      { nodeId: 'big', bytes: 150 * MiB },
      { nodeId: 'mid', bytes: 60 * MiB },
      { nodeId: 'small', bytes: 45 * MiB },
    ];
    const { assign } = planPlacement({ chunkLengths: lengths, replicas: 2, budgets });
    const t = tally(assign, lengths);
    expect(t.copies.every((c) => c === 2)).toBe(true);
    expect(t.bytes.get('big')).toBe(100 * MiB);
    expect(t.bytes.get('mid')! + t.bytes.get('small')!).toBe(100 * MiB);
    expect(t.bytes.get('mid')!).toBeLessThanOrEqual(60 * MiB);
    expect(t.bytes.get('small')!).toBeLessThanOrEqual(45 * MiB);
  });

  it('handles a short last chunk and a 0-byte file', () => {
    const l = chunkLengthsOf(2 * MiB + 5, MiB);
    expect(l).toEqual([MiB, MiB, 5]);
    const { assign } = planPlacement({ chunkLengths: l, replicas: 1, budgets: [{ nodeId: 'b', bytes: 2 * MiB + 5 }] });
    expect(assign.get('b')).toEqual([0, 1, 2]);
    expect(planPlacement({ chunkLengths: chunkLengthsOf(0, MiB), replicas: 3, budgets: [] }).assign.size).toBe(0);
  });

  it('counts existing copies and places only the missing ones, never on a node that has the chunk', () => {
    const l = chunkLengthsOf(4 * MiB, MiB);
    const existing = new Map([
      ['b', new Set([0, 1])],
      ['c', new Set([0, 2, 3])],
    ]);
    const { assign } = planPlacement({ chunkLengths: l, replicas: 2, budgets: [{ nodeId: 'b', bytes: 10 * MiB }, { nodeId: 'c', bytes: 10 * MiB }, { nodeId: 'd', bytes: 10 * MiB }], existing });
    const all = [...assign.entries()].flatMap(([n, idx]) => idx.map((i) => `${n}:${i}`)).sort();
    // chunk 0 has 2 copies; 1 lacks one (not on b); 2 and 3 lack one (not on c)
    expect(all.length).toBe(3);
    expect(all.some((x) => x === 'b:1' || x === 'c:0')).toBe(false);
    expect(all.filter((x) => x.endsWith(':1')).length).toBe(1);
  });

  it('throws NO_SPACE when a chunk cannot get its copies, and rejects bad replicas', () => {
    expect(() => planPlacement({ chunkLengths: lengths, replicas: 2, budgets: [{ nodeId: 'b', bytes: 1024 * MiB }] })).toThrow(/chunk 0 cannot get 2 copies/);
    expect(() => planPlacement({ chunkLengths: lengths, replicas: 1, budgets: [{ nodeId: 'b', bytes: 99 * MiB }] })).toThrow(SwarmError);
    expect(() => planPlacement({ chunkLengths: lengths, replicas: 0, budgets: [] })).toThrow(/replicas must be/);
  });

  it('maxReplicasThatFit', () => {
    const budgets = ['b', 'c', 'd'].map((nodeId) => ({ nodeId, bytes: 100 * MiB }));
    expect(maxReplicasThatFit(lengths, budgets)).toBe(3);
    expect(maxReplicasThatFit(lengths, [{ nodeId: 'b', bytes: 60 * MiB }, { nodeId: 'c', bytes: 60 * MiB }])).toBe(1);
    expect(maxReplicasThatFit(lengths, [{ nodeId: 'b', bytes: 60 * MiB }])).toBe(0);
  });
});

describe('checkAllocation', () => {
  const candidates = [
    { nodeId: 'b', available: 80 * MiB },
    { nodeId: 'c', available: 80 * MiB },
    { nodeId: 'd', available: 80 * MiB },
  ];

  it('accepts an allocation that holds the copies', () => {
    const p = checkAllocation(100 * MiB, MiB, 2, [{ nodeId: 'b', bytes: 70 * MiB }, { nodeId: 'c', bytes: 70 * MiB }, { nodeId: 'd', bytes: 70 * MiB }], candidates);
    expect([...p.bytes.values()].reduce((a, b) => a + b, 0)).toBe(200 * MiB);
  });

  it('refuses one that cannot, saying what would fit', () => {
    expect(() => checkAllocation(100 * MiB, MiB, 2, [{ nodeId: 'b', bytes: 64 * MiB }, { nodeId: 'c', bytes: 32 * MiB }], candidates)).toThrow(
      /cannot hold 2 copies of 100 MiB \(200 MiB needed.*cannot hold even one copy.*all 3 candidates together hold at most 2 \(e\.g\. --replicas 2\)/,
    );
    expect(() => checkAllocation(100 * MiB, MiB, 3, candidates.map((c) => ({ nodeId: c.nodeId, bytes: c.available })), candidates)).toThrow(/holds at most 2 copies/);
  });

  it('refuses peers that are not candidates, budgets past what a peer has, and duplicates', () => {
    expect(() => checkAllocation(MiB, MiB, 1, [{ nodeId: 'zz', bytes: MiB }], candidates)).toThrow(/zz is not a candidate/);
    expect(() => checkAllocation(MiB, MiB, 1, [{ nodeId: 'b', bytes: 90 * MiB }], candidates)).toThrow(/b has 80.0 MiB available, less than the 90.0 MiB/);
    expect(() => checkAllocation(MiB, MiB, 1, [{ nodeId: 'b', bytes: MiB }, { nodeId: 'b', bytes: MiB }], candidates)).toThrow(/named twice/);
  });
});

describe('parseAllocation', () => {
  it('parses NODE=SIZE lists', () => {
    expect(parseAllocation('b=64MiB, c=32MiB')).toEqual([
      { nodeId: 'b', bytes: 64 * MiB },
      { nodeId: 'c', bytes: 32 * MiB },
    ]);
  });
  it('rejects bad input with a clear message', () => {
    expect(() => parseAllocation('')).toThrow(/--alloc is empty/);
    expect(() => parseAllocation('b')).toThrow(/"b" is not NODE=SIZE/);
    expect(() => parseAllocation('B!=1MiB')).toThrow(/node id must be/);
    expect(() => parseAllocation('b=lots')).toThrow(/--alloc entry "b=lots"/);
    expect(() => parseAllocation('b=64MiB,,c=1MiB')).toThrow('--alloc "b=64MiB,,c=1MiB" has an empty entry: separate NODE=SIZE entries with single commas, e.g. b=64MiB,c=32MiB');
    expect(() => parseAllocation('b=1MiB,')).toThrow(/has an empty entry/);
  });
  it('takes `free` for all of a peer\'s free space', () => {
    expect(parseAllocation('b=64MiB,c=free')).toEqual([
      { nodeId: 'b', bytes: 64 * MiB },
      { nodeId: 'c', bytes: 'free' },
    ]);
  });
});

describe('groupPlacement', () => {
  const runsOf = (idx: number[]) => idx.filter((i, k) => k === 0 || idx[k - 1] !== i - 1).length;

  it('makes each peer\'s share a few runs of adjacent chunks, with the same bytes and distinct holders per chunk', () => {
    const chunkLengths = chunkLengthsOf(100 * 1024 + 10, 1024); // 101 chunks, the last one 10 bytes
    const budgets = ['b', 'c', 'd', 'e'].map((nodeId) => ({ nodeId, bytes: 1e9 }));
    const { assign, bytes } = planPlacement({ chunkLengths, replicas: 2, budgets });
    expect(Math.max(...[...assign.values()].map(runsOf))).toBeGreaterThan(10); // dealt out one by one
    const grouped = groupPlacement(assign, chunkLengths);
    for (const [n, idx] of grouped) {
      expect(runsOf(idx)).toBeLessThanOrEqual(3);
      expect(idx.reduce((s, i) => s + chunkLengths[i], 0)).toBe(bytes.get(n));
    }
    const copies = new Array<Set<string>>(chunkLengths.length).fill(new Set()).map(() => new Set<string>());
    for (const [n, idx] of grouped) for (const i of idx) copies[i].add(n);
    expect(copies.every((c) => c.size === 2)).toBe(true);
    // The short last chunk keeps its holders.
    const lastHolders = (a: ReadonlyMap<string, readonly number[]>) => [...a].filter(([, idx]) => idx.includes(100)).map(([n]) => n).sort();
    expect(lastHolders(grouped)).toEqual(lastHolders(assign));
  });
});
