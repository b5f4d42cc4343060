import { WriteLedger } from './write-ledger';

const what = 'chunk 3';

describe('WriteLedger: a chunk is written exactly once, in full, before its close', () => {
  it('passes a chunk written in order, out of order, or in one piece', () => {
    const inOrder = new WriteLedger(100);
    for (let at = 0; at < 100; at += 30) inOrder.record(at, Math.min(30, 100 - at));
    expect(() => inOrder.check(100, what)).not.toThrow();
    const jumpy = new WriteLedger(100);
    jumpy.record(50, 50);
    jumpy.record(0, 20);
    jumpy.record(20, 30);
    expect(() => jumpy.check(100, what)).not.toThrow();
    const empty = new WriteLedger(0);
    expect(() => empty.check(0, what)).not.toThrow();
  });

  it('refuses a gap, a short chunk, and a byte written twice, naming the rule', () => {
    const gap = new WriteLedger(100);
    gap.record(0, 40);
    gap.record(60, 40);
    expect(() => gap.check(100, what)).toThrow('write-path invariant broken for chunk 3: 80 bytes were written in 2 range(s) ending at 100, the close claims 100');
    const short = new WriteLedger(100);
    short.record(0, 99);
    expect(() => short.check(100, what)).toThrow(/99 bytes were written in 1 range\(s\) ending at 99, the close claims 100/);
    const twice = new WriteLedger(100);
    twice.record(0, 60);
    twice.record(50, 50);
    expect(() => twice.check(100, what)).toThrow('write-path invariant broken for chunk 3: bytes 50..60 were written twice');
  });

  it('a whole-chunk write at 0 replaces a cancelled partial one (endgame winner)', () => {
    const l = new WriteLedger(100);
    l.record(0, 30); // the cancelled original had streamed this much
    l.record(0, 100); // the duplicate that won
    expect(() => l.check(100, what)).not.toThrow();
  });

  it('writes through the mapping are not seen: the check is off for that chunk', () => {
    const l = new WriteLedger(100);
    l.record(0, 10);
    l.untracked();
    expect(() => l.check(100, what)).not.toThrow();
  });
});
