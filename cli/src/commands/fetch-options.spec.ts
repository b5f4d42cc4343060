import { discoverySummary, parseDiscover, parsePeers } from './fetch';

describe('fetch --discover / --peers', () => {
  it('accepts the three schemes and refuses anything else clearly', () => {
    expect(parseDiscover('flood')).toBe('flood');
    expect(parseDiscover('iterative')).toBe('iterative');
    expect(parseDiscover('tracker')).toBe('tracker');
    expect(() => parseDiscover('gossip')).toThrow('--discover must be tracker, flood or iterative, got "gossip"');
  });

  it('takes host:port lists and names a bad entry', () => {
    expect(parsePeers('10.0.0.2:7881, node-c:7881')).toEqual(['10.0.0.2:7881', 'node-c:7881']);
    expect(() => parsePeers('10.0.0.2:7881,nope')).toThrow('--peers: "nope" is not host:port');
    expect(() => parsePeers(',')).toThrow(/at least one/);
  });

  it('the summary says which holders were found, how and when', () => {
    expect(discoverySummary({ mode: 'flood', holders: [{ nodeId: 'f', address: '10.0.0.6:7881', via: 'flood', afterMs: 12 }] })).toBe('holders found: f (10.0.0.6:7881) by flood after 12 ms');
    expect(discoverySummary({ mode: 'iterative', holders: [] })).toBe('discovery (iterative) found no holder');
  });
});
