import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { chunkCount, computeFileId, type Manifest, ManifestSchema, manifestIsConsistent } from '@swarmshare/common';
import { FUZZ } from './corpus';

const hex64 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'));

/** A consistent manifest: its id is the hash of its size, chunk size and chunk hashes. */
const manifest = fc
  .record({ chunkSize: fc.constantFrom(65536, 1 << 20, 4 << 20), count: fc.integer({ min: 1, max: 40 }), tail: fc.integer({ min: 1, max: 65536 }) })
  .chain(({ chunkSize, count, tail }) => {
    const size = (count - 1) * chunkSize + Math.min(tail, chunkSize);
    return fc.array(hex64, { minLength: count, maxLength: count }).map((hashes): Manifest => ({ fileId: computeFileId(size, chunkSize, hashes), name: 'f.bin', size, chunkSize, hashes }));
  });

describe('manifest and file-id verification under random input (property-based fuzzing, fast-check)', () => {
  test('a consistent manifest verifies; any change to its size, chunk size, a hash or its id does not', () => {
    fc.assert(
      fc.property(manifest, fc.nat(), fc.constantFrom('size', 'chunkSize', 'hash', 'fileId'), (m, pick, what) => {
        expect(manifestIsConsistent(m)).toBe(true);
        const bad: Manifest = { ...m, hashes: [...m.hashes] };
        if (what === 'size') bad.size = m.size + 1 + (pick % 1000);
        if (what === 'chunkSize') bad.chunkSize = m.chunkSize * 2;
        if (what === 'hash') {
          const i = pick % m.hashes.length;
          bad.hashes[i] = createHash('sha256').update(m.hashes[i]).digest('hex');
        }
        if (what === 'fileId') bad.fileId = createHash('sha256').update(m.fileId).digest('hex');
        // A different size may still have the same chunk count; the id must still give it away.
        if (what !== 'size' || chunkCount(bad.size, bad.chunkSize) === m.hashes.length) expect(manifestIsConsistent(bad)).toBe(false);
      }),
      FUZZ,
    );
  });

  test('any JSON as a manifest: the schema accepts it or says why, and never throws', () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), fc.record({ fileId: fc.oneof(hex64, fc.string()), name: fc.string(), size: fc.double(), chunkSize: fc.integer(), hashes: fc.array(fc.string(), { maxLength: 5 }) })), (v) => {
        const r = ManifestSchema.safeParse(v);
        if (r.success) expect(typeof manifestIsConsistent(r.data)).toBe('boolean');
        else expect(r.error.issues.length).toBeGreaterThan(0);
      }),
      FUZZ,
    );
  });
});
