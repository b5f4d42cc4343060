import { chunkCount, chunkLength, computeFileId, manifestIsConsistent, sha256Hex } from './file-id';

describe('file identity', () => {
  it('counts chunks with a short last chunk and handles 0 bytes', () => {
    expect(chunkCount(0, 65536)).toBe(0);
    expect(chunkCount(1, 65536)).toBe(1);
    expect(chunkCount(65536, 65536)).toBe(1);
    expect(chunkCount(65537, 65536)).toBe(2);
    expect(chunkLength(65537, 65536, 1)).toBe(1);
    expect(chunkLength(65537, 65536, 0)).toBe(65536);
    expect(() => chunkLength(65537, 65536, 2)).toThrow(/out of range/);
  });

  it('matches the documented formula', () => {
    // docs/file-id.md: SHA-256("swarmshare-file-v1\0" || u64be(size) || u32be(chunkSize) || raw chunk hashes)
    const h0 = sha256Hex(Buffer.from('a'));
    const expected = require('node:crypto')
      .createHash('sha256')
      .update(Buffer.concat([Buffer.from('swarmshare-file-v1\0'), Buffer.from('0000000000000001', 'hex'), Buffer.from('00010000', 'hex'), Buffer.from(h0, 'hex')]))
      .digest('hex');
    expect(computeFileId(1, 65536, [h0])).toBe(expected);
  });

  it('depends on size, chunk size and every hash, and detects a tampered manifest', () => {
    const hashes = [sha256Hex(Buffer.from('x')), sha256Hex(Buffer.from('y'))];
    const id = computeFileId(65537, 65536, hashes);
    expect(computeFileId(65538, 65536, hashes)).not.toBe(id);
    expect(computeFileId(65537, 131072, hashes)).not.toBe(id);
    expect(computeFileId(65537, 65536, [hashes[1], hashes[0]])).not.toBe(id);
    const m = { fileId: id, name: 'f', size: 65537, chunkSize: 65536, hashes };
    expect(manifestIsConsistent(m)).toBe(true);
    expect(manifestIsConsistent({ ...m, hashes: [hashes[0], hashes[0]] })).toBe(false);
    expect(manifestIsConsistent({ ...m, size: 1 })).toBe(false);
  });
});
