import type { FileRecord, PeerRecord } from '@swarmshare/common';
import { assembleFileRecord, compareFiles, comparePeers, type StoredFile } from './file-record';
import type { TrackedPeer } from './liveness';

const NOW = 100_000;
const TTL = 10_000;
const peer = (nodeId: string, lastSeen: number, free = 0): PeerRecord => ({ nodeId, address: `${nodeId}.local:7881`, capacity: 100, free, lastSeen, files: 1 });
const stored = (over: Partial<StoredFile> = {}): StoredFile => ({
  meta: { fileId: 'f'.repeat(64), name: 'a.bin', size: 10, chunkSize: 65536, chunkCount: 1, hash: 'e'.repeat(64), registeredAt: 5 },
  seeders: [],
  leechers: [],
  downloads: 0,
  ...over,
});

describe('assembleFileRecord', () => {
  it('lists which live holders pinned the file, as their announces said, and those whose gateway does not say', () => {
    const pins = (ids: string[]) => new Set(ids);
    const peers = new Map<string, TrackedPeer>([
      ['a', { ...peer('a', NOW), pins: pins(['f'.repeat(64)]) }],
      ['b', { ...peer('b', NOW), pins: pins(['0'.repeat(64)]) }],
      ['c', peer('c', NOW)],
      ['d', { ...peer('d', 0), pins: pins(['f'.repeat(64)]) }],
      ['r', { ...peer('r', NOW), pins: pins(['f'.repeat(64)]) }],
    ]);
    const { record } = assembleFileRecord(stored({ seeders: ['a', 'b', 'c', 'd', 'r'], partial: ['r'] }), peers, NOW, TTL);
    // d is not live: listed nowhere. r holds a share (partial) and pinned it.
    expect(record.pinnedBy).toEqual(['a', 'r']);
    expect(record.pinsUnknown).toEqual(['c']);
  });

  it('lists live peers with their current address and reports the rest as dead', () => {
    const peers = new Map([
      ['s-live', peer('s-live', NOW - 1)],
      ['s-old', peer('s-old', NOW - TTL - 1)],
      ['l-live', peer('l-live', NOW - TTL)],
      ['l-old', peer('l-old', 0)],
    ]);
    const { record, dead } = assembleFileRecord(
      stored({
        seeders: ['s-old', 's-live', 's-unknown'],
        leechers: [
          { nodeId: 'l-old', since: 1 },
          { nodeId: 'l-live', since: 2 },
        ],
        downloads: 7,
      }),
      peers,
      NOW,
      TTL,
    );
    expect(record).toEqual({
      fileId: 'f'.repeat(64),
      name: 'a.bin',
      size: 10,
      chunkSize: 65536,
      chunkCount: 1,
      hash: 'e'.repeat(64),
      registeredAt: 5,
      downloads: 7,
      seeders: [{ nodeId: 's-live', address: 's-live.local:7881' }],
      partial: [],
      leechers: [{ nodeId: 'l-live', address: 'l-live.local:7881' }],
      // s-live's announces do not report pins (no `pins`): `ls` asks it.
      pinnedBy: [],
      pinsUnknown: ['s-live'],
    });
    expect(dead.sort()).toEqual(['l-old', 's-old', 's-unknown']);
  });

  it('orders seeders by node id and leechers by start time, and never lists a seeder as a leecher', () => {
    const peers = new Map(['c', 'a', 'b', 'x', 'y'].map((n) => [n, peer(n, NOW)]));
    const { record, dead } = assembleFileRecord(
      stored({
        seeders: ['c', 'a', 'b'],
        leechers: [
          { nodeId: 'y', since: 30 },
          { nodeId: 'a', since: 10 },
          { nodeId: 'x', since: 20 },
        ],
      }),
      peers,
      NOW,
      TTL,
    );
    expect(record.seeders.map((s) => s.nodeId)).toEqual(['a', 'b', 'c']);
    expect(record.leechers.map((s) => s.nodeId)).toEqual(['x', 'y']);
    expect(dead).toEqual([]);
  });
});

describe('ordering', () => {
  it('orders peers by free space, most first, then node id', () => {
    const list = [peer('b', 0, 5), peer('a', 0, 5), peer('c', 0, 50), peer('d', 0, 0)];
    expect(list.sort(comparePeers).map((p) => p.nodeId)).toEqual(['c', 'a', 'b', 'd']);
  });

  it('orders files oldest registration first, then id', () => {
    const f = (fileId: string, registeredAt: number) => ({ fileId, registeredAt }) as FileRecord;
    expect([f('b', 2), f('c', 1), f('a', 2)].sort(compareFiles).map((x) => x.fileId)).toEqual(['c', 'a', 'b']);
  });
});
