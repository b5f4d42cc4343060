import { isLive, livenessCutoff } from './liveness';

describe('liveness', () => {
  it('counts a peer live up to and including PEER_TTL_MS after its last announce', () => {
    expect(livenessCutoff(10_000, 3000)).toBe(7000);
    expect(isLive({ lastSeen: 10_000 }, 10_000, 3000)).toBe(true);
    expect(isLive({ lastSeen: 7000 }, 10_000, 3000)).toBe(true);
    expect(isLive({ lastSeen: 6999 }, 10_000, 3000)).toBe(false);
  });

  it('treats an unknown peer as not live', () => {
    expect(isLive(undefined, 10_000, 3000)).toBe(false);
    expect(isLive(null, 10_000, 3000)).toBe(false);
  });
});
