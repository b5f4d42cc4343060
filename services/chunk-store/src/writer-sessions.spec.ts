import { WriterSessions } from './writer-sessions';

const F = 'f'.repeat(64);
const lock = (index: number, leaseId = `l${index}`) => ({ fileId: F, index, leaseId });

describe('WriterSessions', () => {
  it('releases a session’s locks once its heartbeats lapse, and not before', () => {
    let now = 0;
    const w = new WriterSessions(5000, () => now);
    w.track('g1', lock(1));
    w.track('g1', lock(2));
    now = 4000;
    w.touch('g1');
    now = 9000;
    expect(w.lapsed()).toEqual([]);
    now = 9001;
    expect(w.lapsed()).toEqual([{ owner: 'g1', silentMs: 5001, locks: [lock(1), lock(2)] }]);
    expect(w.lapsed()).toEqual([]);
    expect(w.heldBy('g1', F, 1)).toBeUndefined();
  });

  it('a new session saying hello releases every other session’s locks (the gateway restarted)', () => {
    const w = new WriterSessions(5000, () => 0);
    w.track('old', lock(1));
    w.track('other', lock(3));
    expect(w.touch('new', true)).toEqual([lock(1), lock(3)]);
    expect(w.heldBy('old', F, 1)).toBeUndefined();
    expect(w.touch('new', true)).toEqual([]);
  });

  it('knows which session holds a chunk, and forgets a closed lease only if it is the one tracked', () => {
    const w = new WriterSessions(5000, () => 0);
    w.track('g', lock(1, 'a'));
    expect(w.heldBy('g', F, 1)).toEqual(lock(1, 'a'));
    expect(w.heldBy('h', F, 1)).toBeUndefined();
    w.untrack(F, 1, 'stale-lease');
    expect(w.heldBy('g', F, 1)).toEqual(lock(1, 'a'));
    w.untrack(F, 1, 'a');
    expect(w.heldBy('g', F, 1)).toBeUndefined();
  });

  it('remembers at most maxSessions sessions: the least recently seen is forgotten, its locks returned', () => {
    let now = 0;
    const w = new WriterSessions(60_000, () => now, 2);
    w.track('a', lock(1));
    now = 1;
    w.track('b', lock(2));
    now = 2;
    w.touch('a');
    now = 3;
    expect(w.touch('c')).toEqual([lock(2)]);
    expect(w.heldBy('a', F, 1)).toEqual(lock(1));
  });
});
